package import ArgumentParser
import CloakroomCluster
import Foundation

/// `cloakroom lab`: the topology lab (issue 13). Its own target, so no shipped library carries it.
package struct Lab: AsyncParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        abstract: "The topology lab: the same workload and faults against every topology, measured.",
        subcommands: [Topologies.self, Report.self]
    )

    struct Topologies: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the workload against each topology through HAProxy and write the report.",
            discussion: """
                For each topology (cluster up in a folder of its own): simulated browsers register, \
                then sign in, read, write session data and sign out at a fixed request rate (open \
                loop); at half time node2 is killed, later node3 is hung and resumed, then a node is \
                added. Prints progress and a table; writes topologies.md, topologies.json and SVG \
                charts into --out. Needs haproxy, redis-server and PostgreSQL (central).
                """
        )
        @Option(help: "Nodes per cluster (at least 3: one is killed, another hung)") var nodes = 3
        @Option(help: "Simulated browsers") var users = 2000
        @Option(help: "Load time per topology, e.g. 60s") var duration = "60s"
        @Option(help: "Requests per second (open loop)") var rate = 200.0
        @Option(help: "Session sizes, comma-separated, e.g. 1k,8k (at most 8k: a value holds 8 KiB)") var sessionBytes = "1k,8k"
        @Option(help: "Topologies, comma-separated") var topologies = "sticky,central,replicated,backup"
        @Option(help: "Where the report goes") var out = "docs"
        @Option(help: "Where the clusters' folders go") var work = "lab-clusters"
        @Option(help: "Sessions per node for the in-process replication benchmark added to the report (0: none)") var benchSessions = 0

        func validate() throws {
            guard (3...16).contains(nodes) else { throw ValidationError("--nodes must be 3 to 16 (one node is killed, another hung)") }
            guard (1...100_000).contains(users) else { throw ValidationError("--users must be 1 to 100000") }
            guard let seconds = Self.seconds(duration), seconds >= 4, seconds <= 3600 else {
                throw ValidationError("--duration \(duration) is not 4s to 3600s (e.g. 60s, 2m)")
            }
            guard rate >= 1, rate <= 20_000 else { throw ValidationError("--rate must be 1 to 20000") }
            guard (0...10_000_000).contains(benchSessions) else { throw ValidationError("--bench-sessions must be 0 to 10000000") }
            guard let sizes = Self.sizes(sessionBytes), !sizes.isEmpty else {
                throw ValidationError("--session-bytes \(sessionBytes) is not sizes from 100 to 8k, comma-separated")
            }
            _ = sizes
            for name in topologies.split(separator: ",") where ClusterTopology(rawValue: String(name)) == nil {
                throw ValidationError("topology \(name) is not sticky, central, replicated or backup")
            }
        }

        static func seconds(_ text: String) -> Double? {
            if text.hasSuffix("ms") { return Double(text.dropLast(2)).map { $0 / 1000 } }
            if text.hasSuffix("s") { return Double(text.dropLast()) }
            if text.hasSuffix("m") { return Double(text.dropLast()).map { $0 * 60 } }
            return Double(text)
        }

        static func sizes(_ text: String) -> [Int]? {
            var sizes: [Int] = []
            for item in text.split(separator: ",") {
                let lower = item.trimmingCharacters(in: .whitespaces).lowercased()
                let value = lower.hasSuffix("k") ? Int(lower.dropLast()).map { $0 * 1024 } : Int(lower)
                guard let value, (100...8192).contains(value) else { return nil }
                sizes.append(value)
            }
            return sizes
        }

        func run() async throws {
            let settings = LabFigures.Settings(
                nodes: nodes,
                users: users,
                durationSeconds: Self.seconds(duration) ?? 60,
                rate: rate,
                sessionBytes: Self.sizes(sessionBytes) ?? [1024],
                topologies: topologies.split(separator: ",").map(String.init)
            )
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            let runner = LabRunner(
                settings: settings,
                executable: executable,
                workDirectory: URL(fileURLWithPath: work),
                // Written at once (not buffered), also when the output goes to a file or a pipe.
                say: { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
            )
            var figures: LabFigures
            do {
                figures = try await runner.run()
            } catch let error as ClusterError {
                throw LabFailure(description: error.description)
            }
            if benchSessions > 0 { figures.benchmark = try await runner.benchmark(sessions: benchSessions) }
            let report = LabReport(figures: figures)
            let written = try report.write(to: URL(fileURLWithPath: out))
            for size in settings.sessionBytes {
                print("\n\(size)-byte sessions\n" + report.table(sessionBytes: size))
                for verdict in figures.verdicts(sessionBytes: size) { print("- \(verdict.question): \(verdict.answer)") }
            }
            print("\nwrote \(written.path), topologies.json and the charts beside it")
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw the report (Markdown, charts, verdicts) again from a topologies.json."
        )
        @Option(help: "The figures: a topologies.json the lab wrote") var figures: String
        @Option(help: "Where the report goes") var out = "docs"

        func run() async throws {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: figures))
            } catch {
                throw LabFailure(description: "cannot read \(figures): \(error.localizedDescription)")
            }
            let decoded: LabFigures
            do {
                decoded = try JSONDecoder().decode(LabFigures.self, from: data)
            } catch {
                throw LabFailure(description: "\(figures) is not the lab's figures: \(error)")
            }
            let report = LabReport(figures: decoded)
            let written = try report.write(to: URL(fileURLWithPath: out))
            for size in decoded.settings.sessionBytes {
                for verdict in decoded.verdicts(sessionBytes: size) { print("- \(size) bytes: \(verdict.question): \(verdict.answer)") }
            }
            print("wrote \(written.path)")
        }
    }
}

/// A lab failure: one line on standard error, exit status 1.
struct LabFailure: Error, CustomStringConvertible {
    let description: String
}

package import ArgumentParser
import CCloakroomBenchShims
import CloakroomPostgres
import CloakroomRedis
import CloakroomSQLite
import CloakroomSessions
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `cloakroom bench`: benchmarks that print figures (never timed tests). Its own target, so no
/// shipped library carries benchmark code; the `cloakroom` executable lists it as a subcommand.
package struct Bench: AsyncParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        abstract: "Benchmarks (figures, not tests).",
        subcommands: [Stores.self, Tokens.self, Replication.self, Floor.self]
    )

    struct Replication: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "The replicated and backup topologies in one process: sign-ins and data writes per second for 1 (a bare memory store), 2, 3 and 5 nodes, messages and bytes per write, heap bytes per session per node."
        )
        @Option(help: "Node counts, comma-separated") var nodes = "1,2,3,5"
        @Option(help: "Sign-ins, then as many data writes, per node count") var writes = 20_000
        @Option(help: "Sessions every node holds for the memory figure") var sessions = 100_000
        @Option(help: "Concurrent writers") var concurrency = 16
        @Option(help: "Topologies, comma-separated: replicated, backup") var topologies = "replicated,backup"

        func validate() throws {
            guard writes >= 1, sessions >= 1, (1...1024).contains(concurrency) else {
                throw ValidationError("--writes and --sessions must be at least 1, --concurrency 1 to 1024")
            }
            guard !counts.isEmpty, counts.allSatisfy({ (1...16).contains($0) }) else { throw ValidationError("--nodes takes counts from 1 to 16") }
            guard !kinds.isEmpty, kinds.count == topologies.split(separator: ",").count else {
                throw ValidationError("--topologies takes replicated and backup, comma-separated")
            }
        }

        var kinds: [ReplicationBenchmark.Topology] {
            topologies.split(separator: ",").compactMap { ReplicationBenchmark.Topology(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        }

        var counts: [Int] { nodes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

        func run() async throws {
            let bench = ReplicationBenchmark(writes: writes, sessions: sessions, concurrency: concurrency)
            var rows: [ReplicationBenchmark.Row] = []
            if counts.contains(1) {
                let row = try await bench.run(nodes: 1, topology: .replicated)
                print(String(format: "1 node (a bare memory store): %.0f sign-ins/s, %.0f writes/s", row.signIns, row.writes))
                rows.append(row)
            }
            for kind in kinds {
                for count in counts where count > 1 {
                    let row = try await bench.run(nodes: count, topology: kind)
                    print(String(format: "%@, %d nodes: %.0f sign-ins/s, %.0f writes/s", kind.rawValue, count, row.signIns, row.writes))
                    rows.append(row)
                }
            }
            let single = rows.first { $0.nodes == 1 }
            print("")
            print(
                "| topology | nodes | sign-ins/s | ÷ 1 node | data writes/s | ÷ 1 node | messages per write | bytes per write | heap bytes per session per node |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for row in rows {
                let signInRatio = single.map { String(format: "%.2f", row.signIns / $0.signIns) } ?? "–"
                let writeRatio = single.map { String(format: "%.2f", row.writes / $0.writes) } ?? "–"
                let messages = row.nodes == 1 ? "–" : String(format: "%.2f", row.messagesPerWrite)
                let bytes = row.nodes == 1 ? "–" : String(format: "%.0f", row.bytesPerWrite)
                print(
                    String(
                        format: "| %@ | %d | %.0f | %@ | %.0f | %@ | %@ | %@ | %.0f |",
                        row.nodes == 1 ? "one memory store" : row.topology.rawValue,
                        row.nodes,
                        row.signIns,
                        signInRatio,
                        row.writes,
                        writeRatio,
                        messages,
                        bytes,
                        row.heapPerSessionPerNode
                    )
                )
            }
            print(
                "\nOne process, loopback TCP, \(ProcessInfo.processInfo.activeProcessorCount) cores: every node shares them. Messages and bytes per write are all nodes' sends (acknowledgements included, heartbeats taken out), over sign-ins and data writes together."
            )
        }
    }

    struct Stores: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create, read, touch and expire N sessions in each store; print ops/s, bytes per session and the backend's raw ceiling."
        )

        @Option(help: "Sessions per store") var count = 1_000_000
        @Option(help: "Sessions for the file store (one file each)") var fileCount = 20_000
        @Option(help: "Stores to measure, comma-separated: memory,sqlite,file") var stores = "memory,sqlite,file"
        @Option(help: "Concurrent workers per step") var concurrency = 16
        @Option(help: "PostgreSQL URL for the postgres store (its sessions table is emptied first)") var postgres: String?
        @Option(help: "Redis URL for the redis store (keys under the prefix cloakroom-bench: are removed first)") var redis: String?

        static let knownStores: Set<String> = ["memory", "sqlite", "file", "postgres", "redis"]

        /// Counts and workers below 1 would divide by zero (`inf`, `-nan` in the table): refused
        /// as usage errors, as are unknown store names and stores without their URL.
        func validate() throws {
            guard count >= 1 else { throw ValidationError("--count \(count) must be at least 1") }
            guard fileCount >= 1 else { throw ValidationError("--file-count \(fileCount) must be at least 1") }
            guard (1...4096).contains(concurrency) else { throw ValidationError("--concurrency \(concurrency) must be from 1 to 4096") }
            let names = storeNames
            guard !names.isEmpty else { throw ValidationError("--stores names no store: use memory, sqlite, file, postgres, redis") }
            for name in names where !Self.knownStores.contains(name) {
                throw ValidationError("unknown store \(name): use memory, sqlite, file, postgres, redis")
            }
            if names.contains("postgres"), postgres == nil {
                throw ValidationError("the postgres store needs --postgres postgres://USER@HOST:PORT/DB")
            }
            if names.contains("redis"), redis == nil { throw ValidationError("the redis store needs --redis redis://HOST:PORT/DB") }
        }

        var storeNames: [String] {
            stores.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        func run() async throws {
            let names = storeNames
            var results: [StoreBenchmark.Result] = []
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            print("cloakroom bench stores: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(concurrency) workers per step")
            for name in names {
                switch name {
                case "memory":
                    let bench = StoreBenchmark(
                        name: "memory",
                        store: MemorySessionStore(),
                        count: count,
                        concurrency: concurrency,
                        measureBytes: { (Double(heapBytesInUse()), "heap in use") },
                        ceilingOperation: nil,
                        ceilingNote: ""
                    )
                    results.append(try await bench.run())
                case "sqlite":
                    let database = try await CloakroomSQLiteDatabase.open(path: scratch.appendingPathComponent("bench.sqlite").path)
                    do {
                        let bench = StoreBenchmark(
                            name: "sqlite",
                            store: SQLiteSessionStore(database: database),
                            count: count,
                            concurrency: concurrency,
                            measureBytes: { (Double(try await database.sizeInBytes()), "database pages") },
                            ceilingOperation: { try await database.selectOne() },
                            ceilingNote: "SELECT 1"
                        )
                        results.append(try await bench.run())
                    } catch {
                        try? await database.close()
                        throw error
                    }
                    try await database.close()
                case "file":
                    let folder = scratch.appendingPathComponent("files")
                    let bench = StoreBenchmark(
                        name: "file",
                        store: try FileSessionStore(directory: folder),
                        count: fileCount,
                        concurrency: concurrency,
                        measureBytes: { (Double(allocatedBytes(folder)), "allocated file blocks") },
                        ceilingOperation: nil,
                        ceilingNote: ""
                    )
                    results.append(try await bench.run())
                case "postgres":
                    guard let url = postgres else { throw ValidationError("the postgres store needs --postgres postgres://USER@HOST:PORT/DB") }
                    let database = try await CloakroomPostgresDatabase.open(url: url)
                    let result = try await withThrowingTaskGroup(of: Void.self, returning: StoreBenchmark.Result.self) { group in
                        group.addTask { try await database.run() }
                        defer { group.cancelAll() }
                        let store = PostgresSessionStore(database: database)
                        _ = try await store.deleteExpired(now: .distantFuture, limit: Int.max)
                        let bench = StoreBenchmark(
                            name: "postgres",
                            store: store,
                            count: count,
                            concurrency: concurrency,
                            measureBytes: { (Double(try await database.sessionTableBytes()), "table + indexes") },
                            ceilingOperation: { try await database.selectOne() },
                            ceilingNote: "SELECT 1"
                        )
                        let result = try await bench.run()
                        await database.close()
                        return result
                    }
                    results.append(result)
                case "redis":
                    guard let url = redis else { throw ValidationError("the redis store needs --redis redis://HOST:PORT/DB") }
                    var configuration = try RedisConfiguration(url: url)
                    configuration.keyPrefix = "cloakroom-bench:"
                    configuration.poolSize = 16
                    // The bench's sessions are dated in the past, so Redis would expire each one a
                    // grace period after it is written; a million take minutes, so keep them an hour
                    // (the sweep step then finds every one of them).
                    configuration.expiryGrace = .seconds(3600)
                    let store = RedisSessionStore(configuration: configuration)
                    do {
                        try await store.removeAllKeys()
                        let bench = StoreBenchmark(
                            name: "redis",
                            store: store,
                            count: count,
                            concurrency: concurrency,
                            measureBytes: { (Double(try await store.usedMemory()), "INFO used_memory") },
                            ceilingOperation: { try await store.setGetRoundTrip("ceiling") },
                            ceilingNote: "SET+GET pipelined"
                        )
                        results.append(try await bench.run())
                        try await store.removeAllKeys()
                    } catch {
                        await store.shutdown()
                        throw error
                    }
                    await store.shutdown()
                default:
                    throw ValidationError("unknown store \(name): use memory, sqlite, file, postgres, redis")
                }
            }
            print(Self.table(results))
        }

        static func table(_ results: [StoreBenchmark.Result]) -> String {
            func rate(_ value: Double) -> String { value >= 1000 ? String(format: "%.0fk", value / 1000) : String(format: "%.0f", value) }
            var lines = [
                "| store | sessions | create/s | read/s | touch/s | expire/s | bytes/session | overhead/session | ceiling/s | read ÷ ceiling |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for r in results {
                let bytes = r.bytesPerSession.map { String(format: "%.0f (%@)", $0, r.bytesNote) } ?? "–"
                let ceiling = r.ceiling.map { "\(rate($0)) (\(r.ceilingNote))" } ?? "–"
                let ratio = r.ceiling.map { String(format: "%.2f", r.read / $0) } ?? "–"
                let overhead = r.bytesPerSession.map { String(format: "%.0f", $0 - r.payloadBytes) } ?? "–"
                lines.append(
                    "| \(r.store) | \(r.count) | \(rate(r.create)) | \(rate(r.read)) | \(rate(r.touch)) | \(rate(r.expire)) | \(bytes) | \(overhead) | \(ceiling) | \(ratio) |"
                )
            }
            lines.append("")
            lines.append(
                String(
                    format: "overhead = bytes/session − %.0f bytes of session content (the record's compact binary form).",
                    results.first?.payloadBytes ?? 0
                )
            )
            lines.append("Read latency of a live session, idle vs while the expired ones are swept:")
            for r in results {
                lines.append("- \(r.store): idle \(r.latencyIdle?.text ?? "–"); sweeping \(r.latencySweeping?.text ?? "–")")
            }
            return lines.joined(separator: "\n")
        }
    }
}

/// Bytes of heap this process has allocated and not freed (glibc `mallinfo2`): unlike resident
/// memory it does not count freed blocks malloc keeps for reuse.
func heapBytesInUse() -> Int {
    Int(cloakroom_heap_in_use())
}

/// Bytes allocated to the files under `folder`.
func allocatedBytes(_ folder: URL) -> Int {
    guard let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.totalFileAllocatedSizeKey]) else { return 0 }
    var total = 0
    for case let url as URL in enumerator {
        total += (try? url.resourceValues(forKeys: [.totalFileAllocatedSizeKey]).totalFileAllocatedSize ?? 0) ?? 0
    }
    return total
}

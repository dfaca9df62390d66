public import Foundation

/// `docs/topologies.md`, its SVG charts and `topologies.json`, drawn from `LabFigures` alone.
public struct LabReport: Sendable {
    public let figures: LabFigures

    public init(figures: LabFigures) { self.figures = figures }

    /// Writes `topologies.md`, `topologies.json` and `topologies-*.svg` into `folder`; returns the
    /// Markdown's path.
    @discardableResult
    public func write(to folder: URL) throws -> URL {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(figures).write(to: folder.appendingPathComponent("topologies.json"))
        for (name, svg) in charts() {
            try svg.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let markdown = folder.appendingPathComponent("topologies.md")
        try self.markdown().write(to: markdown, atomically: true, encoding: .utf8)
        return markdown
    }

    var sizes: [Int] { figures.settings.sessionBytes }

    /// The table the command prints and the report holds, for one session size.
    public func table(sessionBytes: Int) -> String {
        var lines = [
            "| topology | req/s | read p50 / p99 / p99.9 ms | write p99 ms | sign-in p99 ms | failed | error window s | signed out (kill / hang / add) | writes lost | revoked still works ms | bytes/session (100,000 sessions) | msgs / bytes per write | join s (bytes) | spread |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for run in figures.runs where run.sessionBytes == sessionBytes {
            let read = run.kinds["read"] ?? .init()
            let signedOut = run.faults.map { fault in
                fault.pinnedToNode.map { "\(fault.signedOut) of \($0) pinned" } ?? "\(fault.signedOut)"
            }
            let replication =
                run.messagesPerWrite.map { messages in
                    String(format: "%.2f / %.0f", messages, run.bytesPerWrite ?? 0)
                } ?? "–"
            let spread = run.spread.sorted { $0.key < $1.key }.map { String(format: "%@ %.0f%%", $0.key, $0.value * 100) }.joined(separator: ", ")
            lines.append(
                "| \(run.topology) | \(String(format: "%.0f", run.throughput)) | "
                    + String(format: "%.1f / %.1f / %.1f", read.p50, read.p99, read.p999) + " | "
                    + String(format: "%.1f", run.kinds["write"]?.p99 ?? 0) + " | " + String(format: "%.1f", run.kinds["signIn"]?.p99 ?? 0) + " | "
                    + "\(run.failed) | " + String(format: "%.2f", run.longestErrorWindow) + " | " + signedOut.joined(separator: " / ") + " | "
                    + "\(run.acknowledgedWritesLost) of \(run.writesChecked) | " + String(format: "%.0f", run.revokedStillWorksMs) + " | "
                    + "\(Int(run.bytesPerSession)) (\(String(format: "%.0f", run.bytesPerSession * 100_000 / 1_048_576)) MiB) | \(replication) | "
                    + String(format: "%.1f", run.joinSeconds)
                    + (run.joinBytes.map { " (\($0))" } ?? "") + " | \(spread) |"
            )
        }
        return lines.joined(separator: "\n")
    }

    func markdown() -> String {
        let settings = figures.settings
        let machine = figures.machine
        var out = [
            "# Topologies compared: the lab",
            "",
            "Written by `cloakroom lab topologies` (issue 13) from its own measurements; every verdict below is computed",
            "from the figures in [topologies.json](topologies.json), and `cloakroom lab report --figures topologies.json`",
            "draws this page again from them. Back to [replication.md](replication.md) and [cluster.md](cluster.md).",
            "",
            "## How it was measured",
            "- Machine: \(machine.cores) cores, \(machine.memoryBytes / (1 << 30)) GiB, \(machine.system), \(machine.date). Every process (the nodes, HAProxy, Redis, PostgreSQL and the lab's browsers) shares those cores.",
            "- Each topology: `cloakroom cluster up --topology T --nodes \(settings.nodes)` behind HAProxy, \(settings.users) simulated browsers, each with its own cookie jar (Cloakroom's `CookieJar`), registered first.",
            "- Load: \(String(format: "%.0f", settings.rate)) requests per second for \(String(format: "%.0f", settings.durationSeconds)) s, sent on schedule (open loop): a request is due at its time whether or not earlier ones were answered, and its latency counts from then. A browser that is signed in reads (`GET /api/me`, or its session data), writes its session data (about the session size), or signs out; one that is not signs in.",
            "- Faults: at half time node2 is killed (SIGKILL) and stays dead; later node3 is hung (SIGSTOP) and resumed; then a node is added (`cluster add`).",
            "- Latencies are those of the steady state, before the first fault (a request to a node that hangs waits for it, up to HAProxy's 5 s server timeout, whatever the topology); what each fault did is counted per fault: failed requests (5xx or no answer) and users signed out from the fault until the next one, and the error window from the fault to its last failure.",
            "- Signed out: a browser that had not signed out whose session stopped working (401, or a write that got a new session). Lost write: a read of the session data that did not show the last write acknowledged with 200.",
            "- Revoked still works: after a sign-out through the balancer, every other live node is asked directly with the old cookie until each refuses it.",
            "- Memory: resident memory (VmRSS) of every process of the cluster (nodes, and Redis and PostgreSQL for central), before the kill, less the same after start-up and a warm-up, over the sessions held; the figure in brackets is that rate for 100,000 sessions, the whole cluster together. With few sessions, the processes' own growth dominates it: read it from a run with many users.",
            "",
        ]
        for size in sizes {
            out += [
                "## Sessions of \(size) bytes",
                "",
                table(sessionBytes: size),
                "",
                "![p99 latency by request kind](topologies-latency-\(size).svg)",
                "",
                "![users signed out and requests failed at each fault](topologies-faults-\(size).svg)",
                "",
                "![memory per session](topologies-memory-\(size).svg)",
                "",
                "### Verdicts",
                "",
            ]
            for verdict in figures.verdicts(sessionBytes: size) {
                out.append("- **\(verdict.question):** \(verdict.answer).")
            }
            out.append("")
            out.append("Faults, one by one:")
            out.append("")
            for run in figures.runs where run.sessionBytes == size {
                let faults = run.faults.map { fault in
                    "\(fault.name) at \(String(format: "%.1f", fault.at)) s: \(fault.failedRequests) failed over \(String(format: "%.2f", fault.errorWindowSeconds)) s, \(fault.signedOut) signed out"
                }
                out.append(
                    "- \(run.topology): " + faults.joined(separator: "; ")
                        + (run.notSent > 0 ? "; \(run.notSent) requests not sent (every browser busy)" : "") + "."
                )
            }
            out.append("")
        }
        out += benchmarkSection()
        return out.joined(separator: "\n")
    }

    /// The in-process replication benchmark, and memory per node for 100,000 sessions per topology.
    func benchmarkSection() -> [String] {
        guard let rows = figures.benchmark, !rows.isEmpty else { return [] }
        let single = rows.first { $0.nodes == 1 }
        var out = [
            "## Benchmarks: replication in one process",
            "",
            "`cloakroom bench replication` (the release build, run by `lab topologies --bench-sessions \(rows[0].sessions)`): N nodes in one process linked over loopback TCP with the cluster secret, against one bare memory store. 20,000 sign-ins through node1 (each returns once acknowledged: by every peer in `replicated`, by the backup in `backup`), then 20,000 data writes (acknowledged the same way), 16 writers; then each node holds its share of \(rows[0].sessions) sessions for the heap figure. Every node shares the machine's \(figures.machine.cores) cores.",
            "",
            "| topology | nodes | sign-ins/s | ÷ 1 node | data writes/s | ÷ 1 node | messages per write | bytes per write | heap bytes per session per node |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in rows {
            let signIns = single.map { String(format: "%.3f", row.signInsPerSecond / $0.signInsPerSecond) } ?? "–"
            let writes = single.map { String(format: "%.3f", row.writesPerSecond / $0.writesPerSecond) } ?? "–"
            out.append(
                "| \(row.topology) | \(row.nodes) | \(String(format: "%.0f", row.signInsPerSecond)) | \(signIns) | \(String(format: "%.0f", row.writesPerSecond)) | \(writes) | "
                    + (row.nodes == 1 ? "– | – | " : String(format: "%.2f | %.0f | ", row.messagesPerWrite, row.bytesPerWrite))
                    + String(format: "%.0f |", row.heapBytesPerSessionPerNode)
            )
        }
        let nodes = figures.settings.nodes
        func heap(_ topology: String) -> Double? {
            rows.filter { $0.topology == topology }.min { abs($0.nodes - nodes) < abs($1.nodes - nodes) }?.heapBytesPerSessionPerNode
        }
        func mib(_ bytes: Double) -> String { String(format: "%.0f MiB", bytes / 1_048_576) }
        out += [
            "",
            "Memory per node for 100,000 sessions, \(nodes) nodes (from the heap figures above; a node's own footprint comes on top):",
            "",
            "| topology | what each node holds | memory per node |",
            "| --- | --- | --- |",
        ]
        if let one = single?.heapBytesPerSessionPerNode {
            out.append("| sticky | its share, 1/\(nodes) of the sessions, in a memory store | \(mib(one * 100_000 / Double(nodes))) |")
        }
        if let central = figures.runs.first(where: { $0.topology == "central" }) {
            out.append(
                "| central | none: every session is in the store (Redis); the lab measured \(Int(central.bytesPerSession)) resident bytes per session over all processes | 0 in the nodes; \(mib(central.bytesPerSession * 100_000)) in all |"
            )
        }
        if let replicated = heap("replicated") {
            out.append("| replicated | every session | \(mib(replicated * 100_000)) |")
        }
        if let backup = heap("backup") {
            out.append("| backup | its own sessions and the backups it keeps, 2/\(nodes) of them on average | \(mib(backup * 100_000)) |")
        }
        out.append("")
        return out
    }

    /// The charts, by file name.
    func charts() -> [(String, String)] {
        var files: [(String, String)] = []
        for size in sizes {
            let runs = figures.runs.filter { $0.sessionBytes == size }
            files.append(
                (
                    "topologies-latency-\(size).svg",
                    SVGChart.bars(
                        title: "p99 latency (ms) by request kind before the faults, \(size)-byte sessions",
                        series: ["signIn", "read", "write", "signOut"],
                        groups: runs.map { run in (run.topology, ["signIn", "read", "write", "signOut"].map { run.kinds[$0]?.p99 ?? 0 }) }
                    )
                )
            )
            let faultNames = runs.first?.faults.map(\.name) ?? []
            files.append(
                (
                    "topologies-faults-\(size).svg",
                    SVGChart.bars(
                        title: "Users signed out at each fault, \(size)-byte sessions",
                        series: faultNames,
                        groups: runs.map { run in (run.topology, run.faults.map { Double($0.signedOut) }) }
                    )
                )
            )
            files.append(
                (
                    "topologies-memory-\(size).svg",
                    SVGChart.bars(
                        title: "Resident bytes per session, all processes, \(size)-byte sessions",
                        series: ["bytes per session"],
                        groups: runs.map { ($0.topology, [$0.bytesPerSession]) }
                    )
                )
            )
        }
        return files
    }
}

/// Grouped bar charts as SVG text, drawn here (no image service).
enum SVGChart {
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"]

    static func bars(title: String, series: [String], groups: [(String, [Double])]) -> String {
        let width = 720.0
        let height = 320.0
        let left = 60.0
        let bottom = 40.0
        let top = 40.0
        let plotHeight = height - top - bottom
        let maximum = max(groups.flatMap(\.1).max() ?? 0, 1)
        let groupWidth = (width - left - 20) / Double(max(groups.count, 1))
        let barWidth = groupWidth * 0.8 / Double(max(series.count, 1))
        var svg = [
            #"<svg xmlns="http://www.w3.org/2000/svg" width="720" height="320" viewBox="0 0 720 320" font-family="sans-serif" font-size="12">"#,
            #"<rect width="720" height="320" fill="white"/>"#,
            "<text x=\"360\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>",
            "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(width - 10)\" y2=\"\(top + plotHeight)\" stroke=\"black\"/>",
            "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotHeight)\" stroke=\"black\"/>",
        ]
        for step in 0...4 {
            let value = maximum * Double(step) / 4
            let y = top + plotHeight * (1 - Double(step) / 4)
            svg.append("<text x=\"\(left - 6)\" y=\"\(format(y + 4))\" text-anchor=\"end\">\(label(value))</text>")
            svg.append("<line x1=\"\(left)\" y1=\"\(format(y))\" x2=\"\(width - 10)\" y2=\"\(format(y))\" stroke=\"#ddd\"/>")
        }
        for (index, group) in groups.enumerated() {
            let x0 = left + groupWidth * Double(index) + groupWidth * 0.1
            for (position, value) in group.1.enumerated() {
                let barHeight = plotHeight * value / maximum
                let x = x0 + barWidth * Double(position)
                svg.append(
                    "<rect x=\"\(format(x))\" y=\"\(format(top + plotHeight - barHeight))\" width=\"\(format(barWidth - 2))\" height=\"\(format(barHeight))\" fill=\"\(palette[position % palette.count])\"><title>\(escape(group.0)) \(escape(series.indices.contains(position) ? series[position] : "")): \(label(value))</title></rect>"
                )
            }
            svg.append(
                "<text x=\"\(format(x0 + groupWidth * 0.4))\" y=\"\(format(top + plotHeight + 16))\" text-anchor=\"middle\">\(escape(group.0))</text>"
            )
        }
        for (position, name) in series.enumerated() {
            let x = left + 10 + Double(position) * 150
            svg.append(
                "<rect x=\"\(format(x))\" y=\"\(format(height - 16))\" width=\"10\" height=\"10\" fill=\"\(palette[position % palette.count])\"/>"
            )
            svg.append("<text x=\"\(format(x + 14))\" y=\"\(format(height - 7))\">\(escape(name))</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func label(_ value: Double) -> String {
        value >= 10_000 ? String(format: "%.0fk", value / 1000) : value >= 10 ? String(format: "%.0f", value) : String(format: "%.2g", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

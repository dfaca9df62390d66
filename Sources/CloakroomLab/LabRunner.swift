import AsyncHTTPClient
import CloakroomBench
import CloakroomCluster
import CloakroomCore
public import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Runs the same workload against each topology through HAProxy, with faults, and measures it
/// (`cloakroom lab topologies`).
public struct LabRunner: Sendable {
    /// Every lab user's password (the nodes hash it cheaply: see `nodeEnvironment`).
    static let password = "lab correct horse battery"

    public let settings: LabFigures.Settings
    /// The `cloakroom` executable the nodes run.
    public let executable: String
    /// Where each topology's cluster folder goes.
    public let workDirectory: URL
    /// Progress, one line at a time.
    public let say: @Sendable (String) -> Void

    public init(settings: LabFigures.Settings, executable: String, workDirectory: URL, say: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.executable = executable
        self.workDirectory = workDirectory
        self.say = say
    }

    /// Every topology at every session size, one after another.
    public func run() async throws -> LabFigures {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(10))
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var runs: [LabFigures.Run] = []
        do {
            for size in settings.sessionBytes {
                for topology in settings.topologies {
                    guard let kind = ClusterTopology(rawValue: topology) else { throw ClusterError("topology \(topology) is not known") }
                    runs.append(try await runOne(kind, sessionBytes: size, client: client))
                }
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return LabFigures(machine: Self.machine(), settings: settings, runs: runs, benchmark: nil)
    }

    /// The replication benchmark in this process (`cloakroom bench replication`): one bare memory
    /// store, then `replicated` and `backup` at 2, 3 and 5 nodes, each node holding `sessions`.
    public func benchmark(sessions: Int) async throws -> [LabFigures.BenchmarkRow] {
        let bench = ReplicationBenchmark(writes: 20_000, sessions: sessions, concurrency: 16)
        var rows: [LabFigures.BenchmarkRow] = []
        func keep(_ row: ReplicationBenchmark.Row) {
            rows.append(
                .init(
                    topology: row.nodes == 1 ? "one memory store" : row.topology.rawValue,
                    nodes: row.nodes,
                    signInsPerSecond: row.signIns,
                    writesPerSecond: row.writes,
                    messagesPerWrite: row.messagesPerWrite,
                    bytesPerWrite: row.bytesPerWrite,
                    heapBytesPerSessionPerNode: row.heapPerSessionPerNode,
                    sessions: sessions
                )
            )
            say(String(format: "benchmark: %@, %d node(s): %.0f sign-ins/s", row.topology.rawValue, row.nodes, row.signIns))
        }
        keep(try await bench.run(nodes: 1, topology: .replicated))
        for topology in [ReplicationBenchmark.Topology.replicated, .backup] {
            for nodes in [2, 3, 5] { keep(try await bench.run(nodes: nodes, topology: topology)) }
        }
        return rows
    }

    static func machine() -> LabFigures.Machine {
        let info = ProcessInfo.processInfo
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return .init(
            cores: info.activeProcessorCount,
            memoryBytes: info.physicalMemory,
            system: info.operatingSystemVersionString,
            date: formatter.string(from: Date())
        )
    }

    // MARK: - One topology

    func runOne(_ topology: ClusterTopology, sessionBytes: Int, client: HTTPClient) async throws -> LabFigures.Run {
        let label = "\(topology.rawValue), \(sessionBytes)-byte sessions"
        let directory = workDirectory.appendingPathComponent("\(topology.rawValue)-\(sessionBytes)")
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("cluster.json").path) {
            try? await ClusterManager(directory: directory, executable: executable, say: { _ in }).down()
        }
        try? FileManager.default.removeItem(at: directory)
        var manager = ClusterManager(directory: directory, executable: executable, say: { _ in })
        manager.nodeEnvironment = ["CLOAKROOM_PASSWORD_HASH": "ln=12,r=8,p=1", "CLOAKROOM_LOG_LEVEL": "warning"]
        guard let port = LoopbackSocket.freePort() else { throw ClusterError("no free port on 127.0.0.1") }
        say("\(label): starting \(settings.nodes) nodes behind HAProxy")
        do {
            try await manager.up(.init(nodes: settings.nodes, topology: topology, store: nil, accounts: nil, port: port))
            let run = try await measure(topology, sessionBytes: sessionBytes, manager: manager, client: client, label: label)
            try await manager.down()
            return run
        } catch {
            try? await manager.down()
            throw error
        }
    }

    func measure(
        _ topology: ClusterTopology,
        sessionBytes: Int,
        manager: ClusterManager,
        client: HTTPClient,
        label: String
    ) async throws
        -> LabFigures.Run
    {
        var run = LabFigures.Run(topology: topology.rawValue, sessionBytes: sessionBytes)
        let state = try manager.currentState()
        guard let base = URL(string: state.url) else { throw ClusterError("the cluster's URL \(state.url) is not a URL") }
        let browser = LabBrowserClient(client: client, base: base, padding: String(repeating: "x", count: max(min(sessionBytes, 8_000) - 64, 1)))
        try await warmUp(browser: browser, node: state.nodes.first?.port ?? 0)
        let baseline = Self.memory(state)

        // Every browser registers, each from an address of its own (directly at node1, which
        // trusts the X-Forwarded-For of a loopback proxy: HAProxy would set 127.0.0.1 for all,
        // and one address may register 10 accounts an hour), then signs in through the balancer
        // (which pins it in sticky and backup), a few at a time.
        say("\(label): registering \(settings.users) browsers and signing them in through the balancer")
        let prefix = "\(topology.rawValue)\(sessionBytes)u"
        var users = (0..<settings.users).map { LabUser(name: "\(prefix)\($0)") }
        guard let first = state.nodes.first, let node1 = URL(string: "http://127.0.0.1:\(first.port)") else {
            throw ClusterError("the cluster has no node")
        }
        try await withThrowingTaskGroup(of: (Int, LabUser).self) { group in
            var next = 0
            func add() {
                let index = next
                var user = users[index]
                group.addTask {
                    let credentials = #"{"username":"\#(user.name)","password":"\#(Self.password)"}"#
                    let address = "10.\(index >> 16 & 255).\(index >> 8 & 255).\(index & 255)"
                    let registered = await browser.send(
                        .POST,
                        "/api/register",
                        json: credentials,
                        user: &user,
                        to: node1,
                        headers: [("X-Forwarded-For", address)]
                    )
                    guard registered?.status == 201 else {
                        throw ClusterError("registering \(user.name) at node1 answered \(registered?.status ?? 0)")
                    }
                    user.jar = CookieJar()
                    let signedIn = await browser.send(.POST, "/api/login", json: credentials, user: &user)
                    guard signedIn?.status == 200 else {
                        throw ClusterError("signing \(user.name) in through the balancer answered \(signedIn?.status ?? 0)")
                    }
                    user.signedIn = true
                    return (index, user)
                }
                next += 1
            }
            for _ in 0..<min(8, users.count) { add() }
            while let (index, user) = try await group.next() {
                users[index] = user
                if next < users.count { add() }
            }
        }
        let browsers = LabUsers(users)

        // Heartbeats alone, to take out of the replication figures.
        let idleStart = await Self.scrape(state)
        try await Task.sleep(for: .seconds(1))
        let idleEnd = await Self.scrape(state)
        let heartbeatMessages = idleEnd.replicationMessages - idleStart.replicationMessages
        let heartbeatBytes = idleEnd.replicationBytes - idleStart.replicationBytes

        let recorder = LabRecorder()
        let duration = settings.durationSeconds
        let start = ContinuousClock.now
        let steadyStart = await Self.scrape(state)
        say("\(label): \(String(format: "%.0f", settings.rate)) requests/s for \(String(format: "%.0f", duration)) s")

        async let load: Int = Self.openLoop(rate: settings.rate, duration: duration, start: start, browsers: browsers) { index, user, due in
            var user = user
            await browser.step(&user, due: due, start: start, recorder: recorder)
            await browsers.checkIn(index, user)
        } notSent: { due in
            recorder.record(LabEvent(kind: "none", at: (due - start) / .seconds(1), latencyMs: 0, outcome: .notSent))
        }
        async let progress: Void = Self.progress(start: start, duration: duration, recorder: recorder, label: label, say: say)

        // The faults.
        var faults: [LabFigures.Fault] = []
        try await Task.sleep(until: start + .seconds(duration * 0.5))
        let beforeKill = await Self.scrape(state)
        let steadyEnd = ContinuousClock.now
        let memory = Self.memory(state)
        let held = await browsers.all.count { $0.signedIn }
        run.memoryPerProcess = memory
        run.sessionsHeld = held
        let grown = memory.reduce(Int64(0)) { $0 + Int64($1.value) } - baseline.reduce(Int64(0)) { $0 + Int64($1.value) }
        run.bytesPerSession = held > 0 ? Double(max(grown, 0)) / Double(held) : 0
        let pinned = topology.pinsBrowsers ? await browsers.all.count { $0.signedIn && $0.pinnedNode(base) == "node2" } : nil
        try manager.kill(node: "node2")
        faults.append(.init(name: "kill node2", at: (ContinuousClock.now - start) / .seconds(1), pinnedToNode: pinned))
        say("\(label): killed node2")

        try await Task.sleep(until: start + .seconds(duration * 0.65))
        let hang = max(1.0, min(5.0, duration * 0.1))
        try manager.hang(node: "node3")
        faults.append(.init(name: "hang node3 \(String(format: "%.0f", hang)) s", at: (ContinuousClock.now - start) / .seconds(1)))
        try await Task.sleep(for: .seconds(hang))
        try await manager.start(node: "node3")
        say("\(label): hung node3 for \(String(format: "%.1f", hang)) s")

        try await Task.sleep(until: start + .seconds(duration * 0.8))
        let addStarted = ContinuousClock.now
        faults.append(.init(name: "add a node", at: (addStarted - start) / .seconds(1)))
        let added = try await manager.add()
        run.joinSeconds = (ContinuousClock.now - addStarted) / .seconds(1)
        if topology.replicates, let node = try manager.currentState().nodes.first(where: { $0.name == added }) {
            let figures = await Self.metrics(port: node.port)
            run.joinBytes = Int(figures[#"cloakroom_replication_bytes_total{direction="received"}"#] ?? 0)
        }
        say("\(label): added \(added) in \(String(format: "%.1f", run.joinSeconds)) s")

        run.notSent = await load
        await progress
        let elapsed = (ContinuousClock.now - start) / .seconds(1)

        // Figures from the events.
        let events = recorder.events
        // Latencies of the steady state (before the first fault): what each topology costs; the
        // faults' effects are counted per fault below. Counts are over the whole run.
        let firstFault = faults.first?.at ?? elapsed
        for kind in ["signIn", "read", "write", "signOut"] {
            let mine = events.filter { $0.kind == kind }
            let latencies = mine.filter { $0.at < firstFault }.map(\.latencyMs).sorted()
            run.kinds[kind] = .init(
                sent: mine.count,
                failed: mine.count { $0.outcome == .failed },
                p50: Self.percentile(latencies, 0.50),
                p99: Self.percentile(latencies, 0.99),
                p999: Self.percentile(latencies, 0.999),
                perSecond: Double(mine.count) / max(duration, 0.001)
            )
        }
        for index in faults.indices {
            let from = faults[index].at
            let until = index + 1 < faults.count ? faults[index + 1].at : elapsed + 1
            let inside = events.filter { $0.at >= from && $0.at < until }
            let failures = inside.filter { $0.outcome == .failed }
            faults[index].failedRequests = failures.count
            faults[index].errorWindowSeconds = failures.map { $0.at + $0.latencyMs / 1000 - from }.max() ?? 0
            faults[index].signedOut = inside.count { $0.outcome == .signedOut }
        }
        run.faults = faults
        let writes = recorder.writes
        run.acknowledgedWritesLost = writes.lost
        run.writesChecked = writes.checked

        if topology.replicates {
            let seconds = (steadyEnd - start) / .seconds(1)
            let acknowledged = events.count { $0.at < seconds && $0.outcome == .ok && $0.kind != "read" }
            if acknowledged > 0 {
                let messages = Double(beforeKill.replicationMessages - steadyStart.replicationMessages) - heartbeatMessages * seconds
                let bytes = Double(beforeKill.replicationBytes - steadyStart.replicationBytes) - heartbeatBytes * seconds
                run.messagesPerWrite = max(messages, 0) / Double(acknowledged)
                run.bytesPerWrite = max(bytes, 0) / Double(acknowledged)
            }
        }
        let totalRequests = beforeKill.requests.values.reduce(0, +) - steadyStart.requests.values.reduce(0, +)
        if totalRequests > 0 {
            for (node, count) in beforeKill.requests {
                run.spread[node] = (count - (steadyStart.requests[node] ?? 0)) / totalRequests
            }
        }
        let revocation = try await revocationDelay(browsers: browsers, browser: browser, manager: manager, base: base)
        run.revokedStillWorksMs = revocation.worstMs
        run.revocationSamples = revocation.samples
        say(
            "\(label): \(events.count) requests, \(run.failed) failed, \(run.signedOut) signed out, \(run.acknowledgedWritesLost) writes lost"
        )
        return run
    }

    /// A few throwaway browsers register, write and read, then sign out, so the baseline of
    /// the memory figure is taken from warm processes (connection pools, caches, allocator).
    func warmUp(browser: LabBrowserClient, node: Int) async throws {
        guard let node1 = URL(string: "http://127.0.0.1:\(node)") else { return }
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    var user = LabUser(name: "warmup\(index)\(Int.random(in: 0..<1_000_000))")
                    let credentials = #"{"username":"\#(user.name)","password":"\#(Self.password)"}"#
                    _ = await browser.send(
                        .POST,
                        "/api/register",
                        json: credentials,
                        user: &user,
                        to: node1,
                        headers: [("X-Forwarded-For", "10.255.0.\(index)")]
                    )
                    user.jar = CookieJar()
                    _ = await browser.send(.POST, "/api/login", json: credentials, user: &user)
                    for round in 0..<25 {
                        _ = await browser.send(.PUT, "/api/session/data/lab", json: #"{"n":\#(round),"pad":"\#(browser.padding)"}"#, user: &user)
                        _ = await browser.send(.GET, "/api/session/data/lab", user: &user)
                        _ = await browser.send(.GET, "/api/me", user: &user)
                    }
                    _ = await browser.send(.POST, "/api/logout", user: &user)
                }
            }
        }
    }

    /// Sends a request every 1/`rate` s from `start` for `duration` s to the next idle browser,
    /// without waiting for earlier answers; a request due when every browser is busy is not sent
    /// (`notSent`). Returns how many were not sent.
    static func openLoop(
        rate: Double,
        duration: Double,
        start: ContinuousClock.Instant,
        browsers: LabUsers,
        step: @escaping @Sendable (Int, LabUser, ContinuousClock.Instant) async -> Void,
        notSent: @escaping @Sendable (ContinuousClock.Instant) -> Void
    ) async -> Int {
        let interval = Duration.seconds(1 / rate)
        let total = Int(rate * duration)
        var skipped = 0
        await withTaskGroup(of: Void.self) { group in
            for tick in 0..<total {
                let due = start + interval * tick
                try? await Task.sleep(until: due)
                guard let (index, user) = await browsers.checkOut() else {
                    notSent(due)
                    skipped += 1
                    continue
                }
                group.addTask { await step(index, user, due) }
            }
        }
        return skipped
    }

    static func progress(
        start: ContinuousClock.Instant,
        duration: Double,
        recorder: LabRecorder,
        label: String,
        say: @Sendable (String) -> Void
    ) async {
        var mark = 5.0
        while mark < duration {
            try? await Task.sleep(until: start + .seconds(mark))
            let events = recorder.events
            let bar = String(repeating: "#", count: Int(20 * mark / duration)).padding(toLength: 20, withPad: ".", startingAt: 0)
            say(
                "\(label): [\(bar)] \(Int(mark)) s of \(Int(duration)): \(events.count) answered, \(events.count { $0.outcome == .failed }) failed, \(events.count { $0.outcome == .signedOut }) signed out"
            )
            mark += 5
        }
    }

    /// Up to 10 signed-in browsers sign out through the balancer; each live node is then asked
    /// directly with the old cookie until it refuses it. The worst time any node still accepted it.
    func revocationDelay(
        browsers: LabUsers,
        browser: LabBrowserClient,
        manager: ClusterManager,
        base: URL
    ) async throws -> (worstMs: Double, samples: Int) {
        let state = try manager.currentState()
        let live = state.nodes.filter { node in node.pid.map { ProcessControl.isRunning($0, program: node.program) } ?? false }
        var worst = 0.0
        var samples = 0
        for var user in await browsers.all.filter(\.signedIn).prefix(10) {
            guard let cookie = user.jar.cookieHeader(for: base, now: Date()) else { continue }
            guard await browser.send(.POST, "/api/logout", user: &user)?.status == 204 else { continue }
            let signedOut = ContinuousClock.now
            samples += 1
            for node in live {
                guard let nodeURL = URL(string: "http://127.0.0.1:\(node.port)") else { continue }
                while ContinuousClock.now - signedOut < .seconds(5) {
                    var request = HTTPClientRequest(url: nodeURL.appendingPathComponent("api/me").absoluteString)
                    request.headers.add(name: "Cookie", value: cookie)
                    let status = try? await browser.client.execute(request, timeout: .seconds(2)).status.code
                    if status == 401 { break }
                    try await Task.sleep(for: .milliseconds(5))
                }
                worst = max(worst, (ContinuousClock.now - signedOut) / .milliseconds(1))
            }
        }
        return (worst, samples)
    }

    // MARK: - Measuring processes

    struct Scrape {
        var requests: [String: Double] = [:]
        var replicationMessages = 0.0
        var replicationBytes = 0.0
    }

    /// Every running node's request count and replication traffic sent.
    static func scrape(_ state: ClusterState) async -> Scrape {
        var scrape = Scrape()
        for node in state.nodes {
            let figures = await metrics(port: node.port)
            guard !figures.isEmpty else { continue }
            scrape.requests[node.name] = figures.filter { $0.key.hasPrefix("cloakroom_http_requests_total") }.values.reduce(0, +)
            scrape.replicationMessages += figures[#"cloakroom_replication_messages_total{direction="sent"}"#] ?? 0
            scrape.replicationBytes += figures[#"cloakroom_replication_bytes_total{direction="sent"}"#] ?? 0
        }
        return scrape
    }

    static func metrics(port: Int) async -> [String: Double] {
        guard let reply = await LoopbackHTTP.get(port: port, path: "/metrics"), reply.status == 200 else { return [:] }
        return PrometheusText.samples(reply.body)
    }

    /// Resident memory (VmRSS) of every node and backing process that runs, by name.
    static func memory(_ state: ClusterState) -> [String: UInt64] {
        var figures: [String: UInt64] = [:]
        for process in state.nodes + state.backing {
            guard let pid = process.pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                let kilobytes = UInt64(line.split(separator: " ").dropFirst().first ?? "")
            else { continue }
            figures[process.name] = kilobytes * 1024
        }
        return figures
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.down)))]
    }
}

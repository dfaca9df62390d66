import CloakroomCore
import CloakroomReplication
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts, inspects and stops a cluster of `cloakroom serve` nodes behind HAProxy, all on loopback,
/// with what it needs beside them (a Redis for sessions and a PostgreSQL for accounts in the
/// `central` topology), and keeps what it started in `cluster.json` in the cluster's folder.
public struct ClusterManager: Sendable {
    /// What `up` is asked for.
    public struct Request: Sendable, Equatable {
        public var nodes: Int
        public var topology: ClusterTopology
        /// Session store URL; nil: `central` starts a Redis (see `redis`), `sticky` gives each node
        /// its own memory store.
        public var store: String?
        /// What `central` starts when no `store` is given: a Redis Cluster of 3 primaries and
        /// 3 replicas (the default), or one `redis-server`.
        public var redis: RedisKind = .cluster
        /// Account store URL; nil: `central` starts a PostgreSQL, `sticky` shares an SQLite file in the folder.
        public var accounts: String?
        /// The users' port (HAProxy).
        public var port: Int
        /// A PEM file (certificate chain and key) for HTTPS at the balancer; the nodes then run
        /// with `--secure` (`__Host-` cookie, Secure, HSTS) and the stickiness cookie is Secure.
        public var tlsCertificate: String?

        public init(nodes: Int, topology: ClusterTopology, store: String?, accounts: String?, port: Int, redis: RedisKind = .cluster) {
            self.redis = redis
            self.nodes = nodes
            self.topology = topology
            self.store = store
            self.accounts = accounts
            self.port = port
        }
    }

    /// The Redis `central` starts for sessions when given no store.
    public enum RedisKind: String, Sendable, Equatable, CaseIterable {
        /// Six `redis-server --cluster-enabled yes` made one cluster by `redis-cli --cluster create`.
        case cluster
        /// One `redis-server`.
        case single
    }

    /// The cluster's folder.
    public let directory: URL
    /// The `cloakroom` executable the nodes run.
    public let executable: String
    /// Written to as things happen (one line each).
    public let say: @Sendable (String) -> Void
    /// More environment for every node it starts (the lab's cheap password hash).
    public var nodeEnvironment: [String: String] = [:]

    public init(directory: URL, executable: String, say: @escaping @Sendable (String) -> Void) {
        self.directory = directory.standardizedFileURL
        self.executable = executable
        self.say = say
    }

    // MARK: - up

    /// Starts the cluster, or whatever of it is not running (idempotent). Refuses a folder that
    /// holds a different cluster.
    @discardableResult
    public func up(_ request: Request) async throws -> ClusterState {
        guard request.nodes >= 1, request.nodes <= 16 else { throw ClusterError("--nodes must be 1 to 16") }
        guard let haproxy = ProcessControl.executable("haproxy") else {
            throw ClusterError("haproxy is not installed: apt-get install haproxy")
        }
        if !FileManager.default.fileExists(atPath: directory.path) {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            // Traversable (not readable) by others: PostgreSQL runs as its own user beneath it.
            // Only a folder made here: an existing one (/tmp, a home) keeps its mode.
            chmod(directory.path, 0o711)
        }
        var state: ClusterState
        if let existing = try ClusterState.load(from: directory) {
            try Self.check(existing, matches: request, in: directory)
            state = existing
        } else {
            state = try await plan(request)
            try state.save(to: directory)
        }
        try await startBacking(&state)
        try state.save(to: directory)
        // The first node creates the shared signing-key file; the others then read it.
        for index in state.nodes.indices {
            try await startNode(&state, index)
            if index == 0 { try await waitHealthy(state.nodes[0], seconds: 60) }
        }
        try state.save(to: directory)
        for node in state.nodes { try await waitHealthy(node, seconds: 60) }
        try await startHAProxy(&state, program: haproxy)
        try state.save(to: directory)
        try await waitFrontend(state)
        say(
            "cluster up: \(state.url) (\(state.topology.rawValue), \(state.nodes.count) nodes; HAProxy stats http://127.0.0.1:\(state.statsPort)/stats; folder \(directory.path))"
        )
        return state
    }

    static func check(_ existing: ClusterState, matches request: Request, in directory: URL) throws {
        var differences: [String] = []
        if existing.topology != request.topology { differences.append("topology \(existing.topology.rawValue)") }
        if existing.nodes.count != request.nodes { differences.append("\(existing.nodes.count) nodes") }
        if existing.port != request.port { differences.append("port \(existing.port)") }
        if let store = request.store, store != existing.store { differences.append("another store") }
        if request.store == nil, request.topology == .central, existing.startedRedis != nil, existing.startedRedis != request.redis {
            differences.append("redis \(existing.startedRedis?.rawValue ?? "-")")
        }
        if let accounts = request.accounts, accounts != existing.accounts { differences.append("other accounts") }
        if request.tlsCertificate.map({ URL(fileURLWithPath: $0).standardizedFileURL.path }) != existing.tlsCertificate {
            differences.append(existing.tlsCertificate == nil ? "plain HTTP" : "HTTPS")
        }
        guard differences.isEmpty else {
            throw ClusterError(
                "\(directory.path) holds another cluster (\(differences.joined(separator: ", "))): use another --dir, or `cluster down` that one first and remove its folder"
            )
        }
    }

    func plan(_ request: Request) async throws -> ClusterState {
        var backing: [ClusterState.Process] = []
        let store: String
        let accounts: String
        switch request.topology {
        case .sticky:
            store = request.store ?? "memory"
            accounts = request.accounts ?? "sqlite:" + directory.appendingPathComponent("accounts.sqlite").path
        case .replicated, .backup:
            guard request.store == nil || request.store == "memory" else {
                throw ClusterError(
                    "the \(request.topology.rawValue) topology keeps sessions in each node's memory, copied between nodes: --store is for central"
                )
            }
            store = "memory"
            accounts = request.accounts ?? "sqlite:" + directory.appendingPathComponent("accounts.sqlite").path
        case .central:
            if let given = request.store {
                store = given
            } else {
                guard ProcessControl.executable("redis-server") != nil else {
                    throw ClusterError(
                        "the central topology starts a Redis for sessions, and redis-server is not installed: apt-get install redis-server (or give --store URL)"
                    )
                }
                switch request.redis {
                case .single:
                    let port = try ProcessControl.freePort()
                    backing.append(.init(name: "redis", port: port, program: "redis-server"))
                    store = "redis://127.0.0.1:\(port)/0"
                case .cluster:
                    guard ProcessControl.executable("redis-cli") != nil else {
                        throw ClusterError(
                            "the central topology creates a Redis Cluster with redis-cli, which is not installed: apt-get install redis-tools (or --redis single, or give --store URL)"
                        )
                    }
                    var ports: [Int] = []
                    for index in 1...Self.redisClusterSize {
                        let port = try ProcessControl.freePort(avoiding: ports)
                        ports.append(port)
                        backing.append(.init(name: "redis\(index)", port: port, program: "redis-server"))
                    }
                    // Three seeds: the client needs one that answers to learn the slot map.
                    store = "redis-cluster://" + ports.prefix(3).map { "127.0.0.1:\($0)" }.joined(separator: ",")
                }
            }
            if let given = request.accounts {
                accounts = given
            } else if store.hasPrefix("postgres") {
                accounts = store
            } else {
                guard await Self.postgresBin() != nil else {
                    throw ClusterError(
                        "the central topology starts a PostgreSQL for accounts, and PostgreSQL is not installed: apt-get install postgresql (or give --accounts URL)"
                    )
                }
                let port = try ProcessControl.freePort()
                backing.append(.init(name: "postgres", port: port, program: "postgres"))
                accounts = "postgres://postgres@127.0.0.1:\(port)/postgres"
            }
        }
        var nodes: [ClusterState.Process] = []
        for index in 1...request.nodes {
            var node = ClusterState.Process(name: "node\(index)", port: try ProcessControl.freePort(), program: "cloakroom")
            if request.topology.replicates { node.replicationPort = try ProcessControl.freePort() }
            nodes.append(node)
        }
        return ClusterState(
            id: UUID().uuidString,
            topology: request.topology,
            port: request.port,
            statsPort: try ProcessControl.freePort(),
            store: store,
            accounts: accounts,
            nodes: nodes,
            haproxy: .init(name: "haproxy", port: request.port, program: "haproxy"),
            backing: backing,
            tlsCertificate: try request.tlsCertificate.map(Self.readableCertificate)
        )
    }

    /// The certificate file's absolute path, once it is known to be readable PEM.
    static func readableCertificate(_ path: String) throws -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let text = try? String(contentsOfFile: absolute, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----"),
            text.contains("PRIVATE KEY-----")
        else {
            throw ClusterError("--tls-cert \(path): not a readable PEM file holding a certificate and its private key")
        }
        return absolute
    }

    func startBacking(_ state: inout ClusterState) async throws {
        for index in state.backing.indices {
            let process = state.backing[index]
            if let pid = process.pid, ProcessControl.isRunning(pid, program: process.program) { continue }
            switch process.name {
            case let name where name.hasPrefix("redis"):
                let folder = directory.appendingPathComponent(name)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                var arguments = [
                    "redis-server", "--port", "\(process.port)", "--bind", "127.0.0.1", "--dir", folder.path,
                    "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                ]
                if name != "redis" {
                    // A Redis Cluster node: a primary unreachable for 2 s is failed over to its
                    // replica; replicas copy at once rather than after Redis's default 5 s batching.
                    arguments += [
                        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                        "--repl-diskless-sync-delay", "0",
                    ]
                }
                state.backing[index].pid = try ProcessControl.spawnDetached(arguments, log: directory.appendingPathComponent("\(name).log"))
                // Saved before waiting: a failure below must not leave a process `down` cannot find.
                try state.save(to: directory)
                try await waitPort(process.port, name, seconds: 20)
            case "postgres":
                state.backing[index].pid = try await startPostgres(port: process.port)
                try state.save(to: directory)
            default:
                continue
            }
            say("started \(process.name) on 127.0.0.1:\(process.port)")
        }
        try await formRedisCluster(state)
    }

    /// Six nodes in a Redis Cluster (3 primaries + 3 replicas).
    static let redisClusterSize = 6

    /// Makes the started Redis Cluster nodes one cluster the first time (`redis-cli --cluster
    /// create`), and waits until every running node reports all 16,384 slots served. Nodes started
    /// again find each other through their `nodes.conf`.
    func formRedisCluster(_ state: ClusterState) async throws {
        let members = state.backing.filter { $0.name.hasPrefix("redis") && $0.name != "redis" }
        guard let first = members.first else { return }
        let info = try await Self.run(["redis-cli", "-h", "127.0.0.1", "-p", "\(first.port)", "cluster", "info"])
        if info.contains("cluster_known_nodes:1\r") || info.contains("cluster_known_nodes:1\n") || info.hasSuffix("cluster_known_nodes:1") {
            try await Self.run(
                ["redis-cli", "--cluster", "create"] + members.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"]
            )
            say("created a Redis Cluster: 3 primaries, 3 replicas (\(members.map { String($0.port) }.joined(separator: ", ")))")
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            var healthy = true
            for member in members where member.pid.map({ ProcessControl.isRunning($0, program: member.program) }) == true {
                let text = (try? await Self.run(["redis-cli", "-h", "127.0.0.1", "-p", "\(member.port)", "cluster", "info"])) ?? ""
                if !text.contains("cluster_state:ok") || !text.contains("cluster_slots_ok:16384") { healthy = false }
            }
            if healthy { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ClusterError("the Redis Cluster did not serve all 16384 slots within 60 s; see \(directory.path)/redis*.log")
    }

    func startPostgres(port: Int) async throws -> Int32 {
        guard let bin = await Self.postgresBin() else { throw ClusterError("PostgreSQL is not installed: apt-get install postgresql") }
        let data = directory.appendingPathComponent("postgres")
        let asRoot = getuid() == 0
        if asRoot, (try? await Self.run(["runuser", "-u", "postgres", "--", "test", "-x", directory.path])) == nil {
            throw ClusterError(
                "PostgreSQL runs as the postgres user, which cannot reach \(directory.path) (a parent folder is closed to others): use a --dir it can reach, such as one under /tmp, or give --accounts URL"
            )
        }
        if !FileManager.default.fileExists(atPath: data.appendingPathComponent("PG_VERSION").path) {
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            if asRoot { try await Self.run(["chown", "postgres", data.path]) }
            chmod(data.path, 0o700)
            try await Self.run(Self.asPostgres(["\(bin)/initdb", "-D", data.path, "-U", "postgres", "--auth=trust"]))
        }
        // PostgreSQL refuses to run as root: as its own user, with its socket in its folder.
        try await Self.run(
            Self.asPostgres([
                "\(bin)/pg_ctl", "-D", data.path, "-l", data.appendingPathComponent("log").path, "-w", "-t", "60",
                "-o", "-p \(port) -k \(data.path) -c listen_addresses=127.0.0.1", "start",
            ])
        )
        let pidText = try String(contentsOf: data.appendingPathComponent("postmaster.pid"), encoding: .utf8)
        guard let pid = pidText.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            throw ClusterError("PostgreSQL started without a postmaster.pid in \(data.path)")
        }
        return pid
    }

    func startNode(_ state: inout ClusterState, _ index: Int) async throws {
        let node = state.nodes[index]
        if let pid = node.pid, ProcessControl.isRunning(pid, program: node.program) {
            if ProcessControl.isStopped(pid) { ProcessControl.signal(pid, SIGCONT) }
            return
        }
        var arguments =
            [
                executable, "serve", "--host", "127.0.0.1", "--port", "\(node.port)",
                "--keys", directory.appendingPathComponent("keys.json").path,
                "--trusted-proxy", "127.0.0.1", "--drain-seconds", "2",
                // One issuer for all: a token issued by one node is accepted by every other.
                "--issuer", state.url,
            ] + (state.tlsCertificate == nil ? [] : ["--secure"])
        if let replicationPort = node.replicationPort {
            arguments += [
                "--replication", state.topology == .backup ? "backup" : "all", "--replication-port", "\(replicationPort)", "--node-name", node.name,
                "--cluster-secret-file", try clusterSecret().path,
            ]
            for peer in state.nodes where peer.name != node.name {
                if let port = peer.replicationPort { arguments += ["--peer", "127.0.0.1:\(port)"] }
            }
        }
        // The store URLs go in the environment, not on the command line `ps` shows to everyone.
        var environment = ProcessInfo.processInfo.environment.merging(nodeEnvironment) { $1 }
        environment["CLOAKROOM_STORE"] = state.store
        environment["CLOAKROOM_ACCOUNTS"] = state.accounts
        state.nodes[index].pid = try ProcessControl.spawnDetached(
            arguments,
            log: directory.appendingPathComponent("\(node.name).log"),
            environment: environment
        )
        try state.save(to: directory)
        say("started \(node.name) on 127.0.0.1:\(node.port)")
    }

    /// The replicated topology's cluster secret (`cluster.secret`, mode 0600), made on first use.
    func clusterSecret() throws -> URL {
        let file = directory.appendingPathComponent("cluster.secret")
        if !FileManager.default.fileExists(atPath: file.path) {
            do {
                try ClusterSecret.create(at: file)
            } catch {
                throw ClusterError("\(error)")
            }
        }
        return file
    }

    func startHAProxy(_ state: inout ClusterState, program: String, replacing old: Int32? = nil) async throws {
        var config = HAProxyConfiguration(
            topology: state.topology,
            port: state.port,
            statsPort: state.statsPort,
            nodes: state.nodes.map { ($0.name, $0.port) },
            socketPath: directory.appendingPathComponent("haproxy.sock").path,
            secureCookie: state.tlsCertificate != nil
        )
        config.tlsCertificate = state.tlsCertificate
        let unavailable = directory.appendingPathComponent("haproxy-503.http")
        try HAProxyConfiguration.unavailableResponse.write(to: unavailable, atomically: true, encoding: .utf8)
        config.unavailablePath = unavailable.path
        let file = directory.appendingPathComponent("haproxy.cfg")
        try config.render().write(to: file, atomically: true, encoding: .utf8)
        if let pid = state.haproxy.pid, ProcessControl.isRunning(pid, program: "haproxy") { return }
        do {
            try await Self.run([program, "-c", "-q", "-f", file.path])
        } catch {
            throw ClusterError("HAProxy refuses \(file.path): \(error)")
        }
        state.haproxy.pid = try ProcessControl.spawnDetached(
            [program, "-f", file.path] + (old.map { ["-sf", "\($0)"] } ?? []),
            log: directory.appendingPathComponent("haproxy.log")
        )
        try state.save(to: directory)
        say("started haproxy on 127.0.0.1:\(state.port)")
    }

    // MARK: - status, kill, hang, start, down

    /// One line per process: what runs, its health, and HAProxy's view of each node.
    public func status() async throws -> String {
        let state = try existingState()
        let view = await haproxyView(state)
        var lines = [
            "cluster \(directory.path): \(state.topology.rawValue), users on \(state.url), store \(StoreLocation.redacted(state.store)), accounts \(StoreLocation.redacted(state.accounts))"
        ]
        lines.append(
            "node      port   process   health    haproxy   requests  sessions created/loaded"
                + (state.topology.replicates
                    ? "  replication: ready, peers up, sessions held (owned+backup), sent per second, ack wait, unacknowledged writes" : "")
        )
        // Replication rates: the figures now and one second later.
        var before: [String: (figures: [String: Double], at: ContinuousClock.Instant)] = [:]
        if state.topology.replicates {
            for node in state.nodes where Self.describe(node) == "running" {
                if let metrics = await LoopbackHTTP.get(port: node.port, path: "/metrics"), metrics.status == 200 {
                    before[node.name] = (PrometheusText.samples(metrics.body), .now)
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
        for node in state.nodes {
            let process = Self.describe(node)
            var health = "-"
            var requests = "-"
            var sessions = "-"
            var replication = ""
            if process == "running" {
                if let reply = await LoopbackHTTP.get(port: node.port, path: "/healthz") {
                    health = reply.status == 200 ? "ok" : "\(reply.status)"
                } else {
                    health = "no answer"
                }
                if let metrics = await LoopbackHTTP.get(port: node.port, path: "/metrics"), metrics.status == 200 {
                    let figures = PrometheusText.samples(metrics.body)
                    requests = String(Int(figures.filter { $0.key.hasPrefix("cloakroom_http_requests_total") }.values.reduce(0, +)))
                    sessions = "\(Int(figures["cloakroom_sessions_created_total"] ?? 0))/\(Int(figures["cloakroom_sessions_loaded_total"] ?? 0))"
                    if node.replicationPort != nil {
                        let earlier = before[node.name]
                        replication = Self.replicationSummary(
                            figures,
                            before: earlier?.figures ?? [:],
                            seconds: earlier.map { (ContinuousClock.now - $0.at) / .seconds(1) } ?? 1
                        )
                    }
                }
            }
            lines.append(
                [
                    node.name.padding(8), String(node.port).padding(6), process.padding(9), health.padding(9), (view[node.name] ?? "?").padding(9),
                    requests.padding(9), sessions.padding(9), replication,
                ]
                .joined(separator: " ")
                .trimmingCharacters(in: .whitespaces)
            )
        }
        lines.append("haproxy   \(String(state.port).padding(6)) \(Self.describe(state.haproxy))")
        for process in state.backing {
            var line = "\(process.name.padding(8))  \(String(process.port).padding(6)) \(Self.describe(process))"
            if process.name.hasPrefix("redis"), Self.describe(process) == "running",
                let role = try? await Self.run(["redis-cli", "-h", "127.0.0.1", "-p", "\(process.port)", "role"])
            {
                // ROLE's first line: master, slave (a replica) or sentinel.
                let first = role.split(separator: "\n").first.map(String.init) ?? ""
                line += "   " + (first == "master" ? "primary" : first == "slave" ? "replica" : first)
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// SIGKILL to a node: it ends at once, as in a crash.
    public func kill(node name: String) throws {
        let state = try existingState()
        let node = try running(state, name)
        ProcessControl.signal(node.pid ?? 0, SIGKILL)
        say("killed \(node.name) (pid \(node.pid ?? 0))")
    }

    /// SIGSTOP to a node: it holds its connections and answers nothing, as a hung process.
    public func hang(node name: String) throws {
        let state = try existingState()
        let node = try running(state, name)
        ProcessControl.signal(node.pid ?? 0, SIGSTOP)
        say("stopped \(node.name) (pid \(node.pid ?? 0)): it answers nothing until `cluster start \(node.name)`")
    }

    /// Adds a node to a running cluster: started like the others (a replicating one catches up
    /// from its peers before it is healthy), then HAProxy is reloaded with it (`-sf`: the old
    /// HAProxy finishes its connections while the new one takes new ones). Returns its name.
    @discardableResult
    public func add() async throws -> String {
        var state = try existingState()
        guard state.nodes.count < 16 else { throw ClusterError("a cluster has at most 16 nodes") }
        guard let haproxy = ProcessControl.executable("haproxy") else { throw ClusterError("haproxy is not installed: apt-get install haproxy") }
        let name = "node\(state.nodes.count + 1)"
        var node = ClusterState.Process(name: name, port: try ProcessControl.freePort(), program: "cloakroom")
        if state.topology.replicates { node.replicationPort = try ProcessControl.freePort() }
        state.nodes.append(node)
        try state.save(to: directory)
        try await startNode(&state, state.nodes.count - 1)
        try await waitHealthy(state.nodes[state.nodes.count - 1], seconds: 60)
        try await reloadHAProxy(&state, program: haproxy)
        say("added \(name) on 127.0.0.1:\(node.port)")
        return name
    }

    /// Rewrites `haproxy.cfg` for the current nodes and starts a new HAProxy that takes over from
    /// the running one (`-sf PID`), then waits until it lists every node.
    func reloadHAProxy(_ state: inout ClusterState, program: String) async throws {
        guard let old = state.haproxy.pid, ProcessControl.isRunning(old, program: "haproxy") else {
            try await startHAProxy(&state, program: program)
            return
        }
        state.haproxy.pid = nil
        try await startHAProxy(&state, program: program, replacing: old)
        for _ in 0..<100 {
            let view = await haproxyView(state)
            if state.nodes.allSatisfy({ view[$0.name] != nil }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterError("the reloaded HAProxy does not list every node; see \(directory.appendingPathComponent("haproxy.log").path)")
    }

    /// Resumes a hung node or starts a dead one again on its port.
    public func start(node name: String) async throws {
        var state = try existingState()
        if let process = state.backing.first(where: { $0.name == name }) {
            // Redis or PostgreSQL: resumed if hung, else started again with its data.
            if let pid = process.pid, ProcessControl.isRunning(pid, program: process.program), ProcessControl.isStopped(pid) {
                ProcessControl.signal(pid, SIGCONT)
                say("resumed \(process.name)")
            }
            try await startBacking(&state)
            try state.save(to: directory)
            return
        }
        guard let index = state.nodeIndex(name) else {
            throw ClusterError("no node \(name) in this cluster (\((state.nodes + state.backing).map(\.name).joined(separator: ", ")))")
        }
        let node = state.nodes[index]
        if let pid = node.pid, ProcessControl.isRunning(pid, program: node.program) {
            if ProcessControl.isStopped(pid) {
                ProcessControl.signal(pid, SIGCONT)
                say("resumed \(node.name)")
            } else {
                say("\(node.name) is running")
            }
            return
        }
        try await startNode(&state, index)
        try state.save(to: directory)
        try await waitHealthy(state.nodes[index], seconds: 60)
    }

    /// Stops exactly the processes `up` started (by process ID, each checked to be still the
    /// program it started): HAProxy first, then the nodes (each drains), then Redis and PostgreSQL.
    /// Removes no file: the folder keeps the logs, the data and `cluster.json` for the next `up`.
    public func down() async throws {
        var state = try existingState()
        if let pid = state.haproxy.pid {
            await ProcessControl.stop(pid, program: "haproxy")
            state.haproxy.pid = nil
        }
        await withTaskGroup(of: Void.self) { group in
            for node in state.nodes {
                guard let pid = node.pid else { continue }
                group.addTask { await ProcessControl.stop(pid, program: node.program) }
            }
        }
        for index in state.nodes.indices { state.nodes[index].pid = nil }
        for index in state.backing.indices {
            let process = state.backing[index]
            guard let pid = process.pid, ProcessControl.isRunning(pid, program: process.program) else {
                state.backing[index].pid = nil
                continue
            }
            if process.name == "postgres", let bin = await Self.postgresBin() {
                _ = try? await Self.run(
                    Self.asPostgres(["\(bin)/pg_ctl", "-D", directory.appendingPathComponent("postgres").path, "-m", "fast", "-w", "stop"])
                )
            }
            await ProcessControl.stop(pid, program: process.program)
            state.backing[index].pid = nil
        }
        try state.save(to: directory)
        say("cluster down: every process it started has stopped; \(directory.path) keeps its logs and data")
    }

    // MARK: - helpers

    /// A replicating node's figures from its `/metrics`, in one phrase: readiness, the peers up
    /// (by name), sessions held (owned+backup in the `backup` topology), messages and bytes sent
    /// per second (from `before`, `seconds` earlier), the mean wait for acknowledgements (the
    /// replication lag of a write) and the acknowledged writes that went on without some peer.
    static func replicationSummary(_ figures: [String: Double], before: [String: Double], seconds: Double) -> String {
        func value(_ name: String) -> Int { Int(figures[name] ?? 0) }
        func rate(_ name: String) -> Double { max(0, (figures[name] ?? 0) - (before[name] ?? figures[name] ?? 0)) / max(seconds, 0.001) }
        let ready = value("cloakroom_replication_ready") == 1 ? "ready" : "catching up"
        let peers = figures.filter { $0.key.hasPrefix("cloakroom_replication_peer_up{") }
            .map { sample in
                let name = sample.key.split(separator: "\"").dropFirst().first.map(String.init) ?? "?"
                return "\(name) \(sample.value == 1 ? "up" : "down")"
            }
            .sorted()
        let owned = figures["cloakroom_replication_sessions_owned"]
        let held =
            owned.map { "\(Int($0))+\(value("cloakroom_replication_sessions_backup"))" } ?? "\(value("cloakroom_replication_sessions"))"
        let sentMessages = rate(#"cloakroom_replication_messages_total{direction="sent"}"#)
        let sentBytes = rate(#"cloakroom_replication_bytes_total{direction="sent"}"#)
        let waits = figures["cloakroom_replication_ack_seconds_count"] ?? 0
        let meanWait = waits > 0 ? (figures["cloakroom_replication_ack_seconds_sum"] ?? 0) / waits * 1000 : 0
        return "\(ready), peers \(peers.isEmpty ? "none" : peers.joined(separator: ", ")), held \(held), sent "
            + "\(Int(sentMessages)) msgs/s \(String(format: "%.1f", sentBytes / 1024)) KiB/s, ack wait \(String(format: "%.2f", meanWait)) ms, "
            + "unacknowledged \(value("cloakroom_replication_unacknowledged_writes_total"))"
    }

    /// What `cluster.json` says runs now.
    public func currentState() throws -> ClusterState { try existingState() }

    func existingState() throws -> ClusterState {
        guard let state = try ClusterState.load(from: directory) else {
            throw ClusterError("no cluster in \(directory.path): start one with `cloakroom cluster up`")
        }
        return state
    }

    func running(_ state: ClusterState, _ name: String) throws -> ClusterState.Process {
        let found = state.nodeIndex(name).map { state.nodes[$0] } ?? state.backing.first { $0.name == name }
        guard let node = found else {
            throw ClusterError("no node \(name) in this cluster (\((state.nodes + state.backing).map(\.name).joined(separator: ", ")))")
        }
        guard let pid = node.pid, ProcessControl.isRunning(pid, program: node.program) else { throw ClusterError("\(node.name) is not running") }
        return node
    }

    static func describe(_ process: ClusterState.Process) -> String {
        guard let pid = process.pid else { return "stopped" }
        guard ProcessControl.isRunning(pid, program: process.program) else { return "dead" }
        return ProcessControl.isStopped(pid) ? "hung" : "running"
    }

    /// HAProxy's status of each node (`UP`, `DOWN`, `UP 1/2` …) from its CSV statistics.
    func haproxyView(_ state: ClusterState) async -> [String: String] {
        guard let reply = await LoopbackHTTP.get(port: state.statsPort, path: "/stats;csv"), reply.status == 200 else { return [:] }
        let rows = reply.body.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = rows.first?.map({ $0.replacingOccurrences(of: "# ", with: "") }),
            let name = header.firstIndex(of: "svname"), let status = header.firstIndex(of: "status")
        else { return [:] }
        var view: [String: String] = [:]
        for row in rows.dropFirst() where row.count > max(name, status) && row[0] == "nodes" {
            view[row[name]] = row[status]
        }
        return view
    }

    func waitHealthy(_ node: ClusterState.Process, seconds: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let reply = await LoopbackHTTP.get(port: node.port, path: "/healthz"), reply.status == 200 { return }
            if let pid = node.pid, !ProcessControl.isRunning(pid, program: node.program) {
                ProcessControl.reap(pid)
                throw ClusterError("\(node.name) exited; see \(directory.appendingPathComponent("\(node.name).log").path)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterError("\(node.name) did not become healthy in \(seconds) s; see \(directory.appendingPathComponent("\(node.name).log").path)")
    }

    func waitFrontend(_ state: ClusterState) async throws {
        for _ in 0..<100 {
            if state.tlsCertificate != nil {
                // HTTPS at the balancer: listening, and HAProxy's own checks find the nodes up.
                let view = await haproxyView(state)
                if Self.canConnect(state.port), !view.isEmpty, view.values.allSatisfy({ $0.hasPrefix("UP") }) { return }
            } else if let reply = await LoopbackHTTP.get(port: state.port, path: "/healthz"), reply.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterError("HAProxy does not answer on 127.0.0.1:\(state.port); see \(directory.appendingPathComponent("haproxy.log").path)")
    }

    func waitPort(_ port: Int, _ what: String, seconds: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if Self.canConnect(port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ClusterError("\(what) did not listen on 127.0.0.1:\(port) within \(seconds) s")
    }

    static func canConnect(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return LoopbackHTTP.connectToLoopback(descriptor, port: port)
    }

    /// PostgreSQL's program folder (`pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin).
    static func postgresBin() async -> String? {
        if let output = try? await run(["pg_config", "--bindir"]), FileManager.default.isExecutableFile(atPath: output + "/initdb") { return output }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) })
        where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }

    static func asPostgres(_ arguments: [String]) -> [String] {
        getuid() == 0 ? ["runuser", "-u", "postgres", "--"] + arguments : arguments
    }

    /// Runs a short command to its end; its trimmed output, or an error with it.
    @discardableResult
    static func run(_ arguments: [String]) async throws -> String {
        let program = arguments.first ?? "?"
        let (status, text) = try await ProcessControl.runToEnd(arguments)
        guard status == 0 else {
            throw ClusterError("\(URL(fileURLWithPath: program).lastPathComponent) failed (status \(status)): \(text.suffix(600))")
        }
        return text
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

import CloakroomCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real `redis-server` on a free loopback port, for tests of the Redis stores.
///
/// Runs with no persistence (`--save '' --appendonly no`) in a temporary directory. It can be
/// killed and started again on the same port, or frozen (`SIGSTOP`) to make commands time out.
/// Use `RedisTestServer.with { … }` so it is always shut down. A missing `redis-server` is an
/// error, never a skip: the Redis tests must not pass without Redis.
public final class RedisTestServer: Sendable {
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The `--requirepass` password, if any.
    public let password: String?
    /// The server's TLS certificate, key and CA files when it speaks TLS only (`--tls-port`).
    public let tls: TLSFiles?
    private let executable: String
    private let directory: URL
    private let process = Mutex<ChildProcess?>(nil)

    /// Why the server could not run.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// PEM files for a TLS server: its certificate and key, and the CA that signed it.
    public struct TLSFiles: Sendable {
        /// The server certificate.
        public var certificate: String
        /// The server's private key.
        public var key: String
        /// The CA certificate clients should trust.
        public var ca: String

        /// Names the files.
        public init(certificate: String, key: String, ca: String) {
            self.certificate = certificate
            self.key = key
            self.ca = ca
        }
    }

    /// More `redis-server` arguments (`--replicaof HOST PORT`), or a configuration file and
    /// `--sentinel` for a Sentinel.
    private let extraArguments: [String]

    private init(executable: String, directory: URL, port: Int, password: String?, tls: TLSFiles?, extraArguments: [String] = []) {
        self.extraArguments = extraArguments
        self.executable = executable
        self.directory = directory
        self.port = port
        self.password = password
        self.tls = tls
    }

    /// `redis://[:password@]127.0.0.1:port/0`.
    public var url: String {
        "redis://\(password.map { ":\($0)@" } ?? "")127.0.0.1:\(port)/0"
    }

    /// Starts a server on a free port and waits until it accepts connections.
    /// With `tls`, the server accepts TLS connections only.
    public static func start(password: String? = nil, tls: TLSFiles? = nil, arguments: [String] = []) async throws -> RedisTestServer {
        let executable = try findExecutable()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for _ in 0..<20 {
            let server = RedisTestServer(
                executable: executable,
                directory: directory,
                port: Int.random(in: 20_000...60_999),
                password: password,
                tls: tls,
                extraArguments: arguments
            )
            // False when the port was taken: try another.
            if try await server.launch() { return server }
        }
        try? FileManager.default.removeItem(at: directory)
        throw Failure(description: "redis-server did not start on any of 20 random ports (see \(directory.path))")
    }

    /// Runs `body` with a fresh server and always shuts it down afterwards.
    public static func with<T>(password: String? = nil, tls: TLSFiles? = nil, _ body: (RedisTestServer) async throws -> T) async throws -> T {
        try await withShutdown(try await start(password: password, tls: tls), shutdown: { await $0.shutdown() }, body)
    }

    /// Starts the server again on the same port (after `stop()`).
    public func start() async throws {
        guard try await launch() else {
            throw Failure(description: "redis-server could not restart on port \(port)")
        }
    }

    /// Kills the server (SIGKILL, like a crash: it persists nothing) and waits until it is reaped.
    public func stop() async {
        guard
            let running = process.withLock({ current -> ChildProcess? in
                let running = current
                current = nil
                return running
            })
        else { return }
        // SIGKILL also ends a paused (SIGSTOPped) process.
        running.signal(SIGKILL)
        await running.waitForExit()
    }

    /// Freezes the server process (SIGSTOP): connections stay open but nothing is answered.
    public func pause() {
        process.withLock { $0?.signal(SIGSTOP) }
    }

    /// Resumes a paused server (SIGCONT).
    public func resume() {
        process.withLock { $0?.signal(SIGCONT) }
    }

    /// Stops the server and removes its directory.
    public func shutdown() async {
        await stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Launches redis-server and waits for "Ready to accept connections"; false if it exited first.
    private func launch() async throws -> Bool {
        let log = directory.appendingPathComponent("redis-\(port).log")
        try? FileManager.default.removeItem(at: log)
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--logfile", log.path, "--daemonize", "no",
        ]
        if let tls {
            arguments[1] = "0"
            arguments += [
                "--tls-port", String(port), "--tls-cert-file", tls.certificate, "--tls-key-file", tls.key,
                "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "no",
            ]
        }
        if let password { arguments += ["--requirepass", password, "--masterauth", password] }
        if extraArguments.contains("--sentinel") {
            // A Sentinel reads (and rewrites) its configuration file, given first.
            let file = directory.appendingPathComponent("sentinel-\(port).conf")
            try extraArguments.filter { $0 != "--sentinel" }.joined(separator: "\n").appending("\n").write(
                to: file,
                atomically: true,
                encoding: .utf8
            )
            arguments = [
                file.path, "--sentinel", "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--logfile", log.path, "--daemonize",
                "no",
            ]
        } else {
            arguments += extraArguments
        }
        let child: ChildProcess
        do {
            child = try ChildProcess([executable] + arguments)
        } catch {
            throw Failure(description: "cannot run \(executable): \(error)")
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: log, encoding: .utf8),
                text.contains("Ready to accept connections") || (extraArguments.contains("--sentinel") && text.contains("+monitor"))
            {
                process.withLock { $0 = child }
                return true
            }
            if !child.isRunning { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        child.signal(SIGKILL)
        await child.waitForExit()
        throw Failure(description: "redis-server on port \(port) was not ready within 10 s")
    }

    private static func findExecutable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates =
            ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/opt/homebrew/bin/redis-server"]
            + path.split(separator: ":").map { "\($0)/redis-server" }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw Failure(
            description:
                "redis-server not found (looked in /usr/bin, /usr/local/bin and PATH). The Redis tests need a real Redis 6.2+: install it (e.g. apt-get install redis-server)."
        )
    }
}

/// A Redis primary, one replica and one Sentinel watching them (quorum 1, down after 1 s), each a
/// real `redis-server` on a free loopback port: for tests of `redis-sentinel://` and of failover.
public final class RedisSentinelTestSetup: Sendable {
    /// The service name the Sentinel monitors.
    public static let service = "cloakroom"
    public let primary: RedisTestServer
    public let replica: RedisTestServer
    public let sentinel: RedisTestServer

    private init(primary: RedisTestServer, replica: RedisTestServer, sentinel: RedisTestServer) {
        self.primary = primary
        self.replica = replica
        self.sentinel = sentinel
    }

    /// `redis-sentinel://127.0.0.1:PORT/cloakroom`.
    public var url: String { "redis-sentinel://127.0.0.1:\(sentinel.port)/\(Self.service)" }

    /// Starts the three and waits until the replica has synchronised.
    public static func start() async throws -> RedisSentinelTestSetup {
        let primary = try await RedisTestServer.start()
        let replica = try await RedisTestServer.start(arguments: ["--replicaof", "127.0.0.1", String(primary.port)])
        let sentinel = try await RedisTestServer.start(arguments: [
            "sentinel monitor \(service) 127.0.0.1 \(primary.port) 1",
            "sentinel down-after-milliseconds \(service) 1000",
            "sentinel failover-timeout \(service) 10000",
            "sentinel parallel-syncs \(service) 1",
            "--sentinel",
        ])
        let setup = RedisSentinelTestSetup(primary: primary, replica: replica, sentinel: sentinel)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if replica.logText.contains("MASTER <-> REPLICA sync: Finished with success") { return setup }
            try await Task.sleep(for: .milliseconds(50))
        }
        await setup.shutdown()
        throw RedisTestServer.Failure(description: "the replica did not synchronise with the primary within 20 s")
    }

    /// Runs `body` with a fresh setup and always shuts it down afterwards.
    public static func with<T>(_ body: (RedisSentinelTestSetup) async throws -> T) async throws -> T {
        try await withShutdown(try await start(), shutdown: { await $0.shutdown() }, body)
    }

    public func shutdown() async {
        await sentinel.shutdown()
        await replica.shutdown()
        await primary.shutdown()
    }
}

extension RedisTestServer {
    /// The server's log so far.
    public var logText: String {
        (try? String(contentsOf: directory.appendingPathComponent("redis-\(port).log"), encoding: .utf8)) ?? ""
    }
}

/// A real Redis Cluster of 3 primaries and 3 replicas (`redis-server --cluster-enabled yes`, joined
/// with `redis-cli --cluster create`), each on a free loopback port, for tests of `redis-cluster://`.
public final class RedisClusterTestSetup: Sendable {
    /// Every node, primaries first as `redis-cli` assigned them (the roles change with failovers).
    public let nodes: [RedisTestServer]

    private init(nodes: [RedisTestServer]) {
        self.nodes = nodes
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2` (two seeds).
    public var url: String { "redis-cluster://127.0.0.1:\(nodes[0].port),127.0.0.1:\(nodes[1].port)" }

    /// Starts six nodes, creates the cluster and waits until every node reports `cluster_state:ok`.
    public static func start(nodeTimeoutMilliseconds: Int = 1000) async throws -> RedisClusterTestSetup {
        var nodes: [RedisTestServer] = []
        do {
            for _ in 0..<6 {
                nodes.append(
                    try await RedisTestServer.start(arguments: [
                        "--cluster-enabled", "yes", "--cluster-node-timeout", String(nodeTimeoutMilliseconds),
                        "--cluster-require-full-coverage", "no",
                        // Replicas synchronise at once (the default waits 5 s to batch them), so a
                        // failover test has a replica that can take over.
                        "--repl-diskless-sync-delay", "0",
                    ])
                )
            }
            let setup = RedisClusterTestSetup(nodes: nodes)
            try await setup.redisCLI(["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"])
            try await setup.waitUntilHealthy()
            // Each node's own role is settled; another node's table may still list a new replica
            // as a primary for a moment (gossip): wait until every node lists the 3.
            try await setup.waitUntilEveryNodeLists(primaries: 3)
            return setup
        } catch {
            for node in nodes { await node.shutdown() }
            throw error
        }
    }

    /// Runs `body` with a fresh cluster and always shuts it down afterwards.
    public static func with<T>(_ body: (RedisClusterTestSetup) async throws -> T) async throws -> T {
        try await withShutdown(try await start(), shutdown: { await $0.shutdown() }, body)
    }

    public func shutdown() async {
        for node in nodes { await node.shutdown() }
    }

    /// Waits until every running node says `cluster_state:ok` and sees all 16384 slots assigned,
    /// and every replica's link to its primary is up.
    public func waitUntilHealthy(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var healthy = true
            for node in nodes where node.isRunning {
                let info = (try? await redisCLI(["-p", String(node.port), "cluster", "info"])) ?? ""
                if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_assigned:16384") { healthy = false }
                let replication = (try? await redisCLI(["-p", String(node.port), "info", "replication"])) ?? ""
                if replication.contains("role:slave") && !replication.contains("master_link_status:up") { healthy = false }
            }
            if healthy { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RedisTestServer.Failure(description: "the Redis Cluster did not become healthy within \(timeout)")
    }

    /// Waits until `CLUSTER NODES` on every running node lists `primaries` primaries (not failed).
    public func waitUntilEveryNodeLists(primaries: Int, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var settled = true
            for node in nodes where node.isRunning {
                let listed = (try? await topology(from: node))?.filter(\.isPrimary).count
                if listed != primaries { settled = false }
            }
            if settled { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RedisTestServer.Failure(description: "the Redis Cluster's nodes did not all list \(primaries) primaries within \(timeout)")
    }

    /// Runs `redis-cli ARGS` against 127.0.0.1 and returns its output; throws on a non-zero exit.
    @discardableResult
    public func redisCLI(_ arguments: [String]) async throws -> String {
        let candidates = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli", "/opt/homebrew/bin/redis-cli"]
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw RedisTestServer.Failure(description: "redis-cli not found (apt-get install redis-tools)")
        }
        let (status, text) = try await ChildProcess.run([executable, "-h", "127.0.0.1"] + arguments)
        guard status == 0 else {
            throw RedisTestServer.Failure(description: "redis-cli \(arguments.prefix(3).joined(separator: " ")) failed: \(text.suffix(500))")
        }
        return text
    }

    /// The node IDs and roles as `CLUSTER NODES` on `node` lists them: (port, id, isPrimary).
    public func topology(from node: RedisTestServer) async throws -> [(port: Int, id: String, isPrimary: Bool)] {
        let text = try await redisCLI(["-p", String(node.port), "cluster", "nodes"])
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 3, let colon = fields[1].firstIndex(of: ":") else { return nil }
            let portText = fields[1][fields[1].index(after: colon)...].prefix { $0.isNumber }
            guard let port = Int(portText) else { return nil }
            let flags = fields[2]
            guard !flags.contains("fail") else { return nil }
            return (port, String(fields[0]), flags.contains("master"))
        }
    }
}

extension RedisTestServer {
    /// Whether the process is running (not stopped by `stop()`).
    public var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }
}

/// Runs `body` with `resource` and always shuts it down afterwards, whether `body` returned or threw.
func withShutdown<Resource, T>(
    _ resource: Resource,
    shutdown: (Resource) async -> Void,
    _ body: (Resource) async throws -> T
) async throws -> T {
    do {
        let value = try await body(resource)
        await shutdown(resource)
        return value
    } catch {
        await shutdown(resource)
        throw error
    }
}

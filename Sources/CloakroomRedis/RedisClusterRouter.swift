import CloakroomCore
import Foundation
import Logging
import NIOCore
import Synchronization

/// Sends each command to the primary serving its key's slot in a Redis Cluster, with one
/// connection pool per primary.
///
/// - The slot map comes from `CLUSTER SHARDS` (falling back to `CLUSTER SLOTS` on an older server),
///   asked of the known primaries and then the seeds. It is refreshed when a command is redirected,
///   when a node cannot be reached, and when it is older than 30 s.
/// - `MOVED slot host:port`: the slot now lives there for good: the map is updated and the command
///   sent there. `ASK slot host:port` (a slot being migrated): `ASKING` then the command on one
///   connection there, the map unchanged.
/// - `TRYAGAIN`, `CLUSTERDOWN` and `LOADING` (a failover or a multi-key operation during a
///   migration) are retried with jittered, doubling delays for at most `retryWindow`, then the
///   call fails `unavailable` (503 for a request). `CROSSSLOT` is a bug in the caller and is
///   returned at once, never retried.
/// - A node that cannot be reached makes the map refresh (a replica may have been promoted) and
///   the command is retried within the window when nothing was sent (the connection never opened).
final class RedisClusterRouter: Sendable {
    let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())
    /// How long redirections and retries may go on for one command.
    let retryWindow: Duration = .seconds(3)
    static let refreshAge: Duration = .seconds(30)

    private struct State {
        var map = RedisSlotMap()
        var pools: [RedisSlotMap.Node: RedisConnectionPool] = [:]
        var refreshedAt: ContinuousClock.Instant?
        var refreshing: Task<Void, Never>?
        var isShutdown = false
    }

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// Sends the commands; replies in order. Commands whose keys live on one primary go as one
    /// pipeline; otherwise each goes to its own primary, concurrently.
    func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        if commands.count == 1 { return [try await send(commands[0])] }
        try await ensureMap()
        let nodes = commands.map { command in RedisClusterSlots.routingKey(of: command).flatMap { node(forSlot: RedisClusterSlots.slot(of: $0)) } }
        if let first = nodes.first, let node = first, nodes.allSatisfy({ $0 == node }) {
            var replies = try await pool(for: node).send(commands)
            // Any redirected or refused reply is sent again on its own, routed afresh.
            for (index, reply) in replies.enumerated() where Self.needsRouting(reply) {
                replies[index] = try await send(commands[index])
            }
            return replies
        }
        return try await withThrowingTaskGroup(of: (Int, RESPValue).self) { group in
            for (index, command) in commands.enumerated() {
                group.addTask { (index, try await self.send(command)) }
            }
            var replies = [RESPValue](repeating: .null, count: commands.count)
            for try await (index, reply) in group { replies[index] = reply }
            return replies
        }
    }

    /// Sends one command to the primary of its slot, following redirections.
    func send(_ command: RedisCommand) async throws -> RESPValue {
        guard let reply = try await send(pinned: [command]).first else { throw StoreError.unavailable("redis sent no reply") }
        return reply
    }

    /// Sends the commands as one pipeline on one connection to the primary of the first one's
    /// slot, following that command's redirections (the whole pipeline goes again), so that a
    /// keyless command after it (`WAIT`) runs on the same connection as the write it waits for.
    func send(pinned commands: [RedisCommand]) async throws -> [RESPValue] {
        guard let command = commands.first else { return [] }
        let started = ContinuousClock.now
        var target: RedisSlotMap.Node?
        var asking = false
        var delay = Duration.milliseconds(25)
        var redirects = 0
        while true {
            let node: RedisSlotMap.Node
            if let target {
                node = target
            } else {
                node = try await self.node(for: command)
            }
            let replies: [RESPValue]
            do {
                let sent = try await pool(for: node).send(asking ? [RedisCommand("ASKING")] + commands : commands)
                replies = asking ? Array(sent.dropFirst()) : sent
            } catch let error as StoreError {
                // The node may have failed: ask again where the slot lives. When nothing was sent
                // (no connection could be opened), the command is retried within the window.
                let notSent = error.message.hasPrefix("cannot connect") || error.message.hasPrefix("redis unavailable; reconnecting")
                guard notSent, ContinuousClock.now - started < retryWindow else {
                    scheduleRefresh()
                    throw error
                }
                await refresh(force: true)
                target = nil
                asking = false
                try await pause(&delay)
                continue
            }
            guard let reply = replies.first else { throw StoreError.unavailable("redis sent no reply") }
            guard let code = reply.errorCode else { return replies }
            switch code {
            case "MOVED", "ASK":
                redirects += 1
                guard redirects <= 16, let (slot, destination) = Self.redirection(reply, replyingHost: node.host) else { return replies }
                if code == "MOVED" {
                    state.withLock { $0.map.assign(slot...slot, to: destination) }
                    scheduleRefresh()
                }
                target = destination
                asking = code == "ASK"
            case "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN":
                guard ContinuousClock.now - started < retryWindow else {
                    throw StoreError.unavailable("redis cluster is not serving the slot (\(code)) after \(retryWindow)")
                }
                if code != "TRYAGAIN" { scheduleRefresh() }
                target = nil
                asking = false
                try await pause(&delay)
            default:
                return replies
            }
        }
    }

    /// Closes every pool.
    func shutdown() async {
        let pools = state.withLock { state -> [RedisConnectionPool] in
            state.isShutdown = true
            state.refreshing?.cancel()
            return Array(state.pools.values)
        }
        for pool in pools { await pool.shutdown() }
    }

    /// The primaries known now (for commands that go to every primary, such as `SCAN`).
    func primaries() async throws -> [RedisSlotMap.Node] {
        try await ensureMap()
        return state.withLock { $0.map.nodes }
    }

    /// Sends `commands` to one primary as a pipeline (for per-node commands such as `SCAN`).
    func send(_ commands: [RedisCommand], to node: RedisSlotMap.Node) async throws -> [RESPValue] {
        try await pool(for: node).send(commands)
    }

    // MARK: - Routing

    static func needsRouting(_ reply: RESPValue) -> Bool {
        guard let code = reply.errorCode else { return false }
        return ["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN"].contains(code)
    }

    /// `MOVED 3999 127.0.0.1:6381` → (3999, 127.0.0.1:6381).
    /// An empty or `?` host (a node that does not know its address) means the replying node's.
    static func redirection(_ reply: RESPValue, replyingHost: String) -> (Int, RedisSlotMap.Node)? {
        guard case .error(let message) = reply else { return nil }
        let parts = message.split(separator: " ")
        guard parts.count >= 3, let slot = Int(parts[1]), (0..<RedisClusterSlots.count).contains(slot), let colon = parts[2].lastIndex(of: ":"),
            let port = Int(parts[2][parts[2].index(after: colon)...])
        else { return nil }
        var host = String(parts[2][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "?" { host = replyingHost }
        return (slot, RedisSlotMap.Node(host: host, port: port))
    }

    private func node(for command: RedisCommand) async throws -> RedisSlotMap.Node {
        try await ensureMap()
        guard let key = RedisClusterSlots.routingKey(of: command) else {
            guard let any = state.withLock({ $0.map.nodes.first }) else { throw StoreError.unavailable("redis cluster: no primary known") }
            return any
        }
        let slot = RedisClusterSlots.slot(of: key)
        if let node = node(forSlot: slot) { return node }
        await refresh(force: true)
        guard let node = node(forSlot: slot) else { throw StoreError.unavailable("redis cluster: no primary serves slot \(slot) (CLUSTERDOWN)") }
        return node
    }

    private func node(forSlot slot: Int) -> RedisSlotMap.Node? {
        state.withLock { $0.map.node(for: slot) }
    }

    private func pool(for node: RedisSlotMap.Node) throws -> RedisConnectionPool {
        try state.withLock { state in
            guard !state.isShutdown else { throw StoreError.unavailable("redis client is shut down") }
            if let pool = state.pools[node] { return pool }
            let pool = RedisConnectionPool(configuration: configuration(for: node), group: group, logger: logger)
            state.pools[node] = pool
            return pool
        }
    }

    /// The configuration of one node: its address, without the seeds.
    private func configuration(for node: RedisSlotMap.Node) -> RedisConfiguration {
        var single = configuration
        single.clusterSeeds = nil
        single.host = node.host
        single.port = node.port
        return single
    }

    private func pause(_ delay: inout Duration) async throws {
        // Full jitter: a random wait up to the current bound, which doubles up to 400 ms.
        let bound = delay.components.seconds * 1_000_000 + delay.components.attoseconds / 1_000_000_000_000
        try await Task.sleep(for: .microseconds(Int64.random(in: bound / 2...max(bound / 2, bound))))
        delay = min(delay * 2, .milliseconds(400))
    }

    // MARK: - The slot map

    private func ensureMap() async throws {
        let (empty, stale) = state.withLock { state -> (Bool, Bool) in
            let age = state.refreshedAt.map { ContinuousClock.now - $0 }
            return (state.map.nodes.isEmpty, age.map { $0 > Self.refreshAge } ?? true)
        }
        if empty {
            await refresh(force: true)
            guard state.withLock({ !$0.map.nodes.isEmpty }) else {
                throw StoreError.unavailable("cannot connect to redis cluster: no node answered CLUSTER SHARDS or CLUSTER SLOTS")
            }
        } else if stale {
            scheduleRefresh()
        }
    }

    private func scheduleRefresh() {
        state.withLock { state in
            guard state.refreshing == nil, !state.isShutdown else { return }
            state.refreshing = Task { [self] in await self.refresh(force: true) }
        }
    }

    /// Asks the known primaries, then the seeds, for the slot map; keeps the first complete one.
    func refresh(force: Bool) async {
        let candidates =
            state.withLock { state -> [RedisSlotMap.Node] in state.map.nodes }
            + (configuration.clusterSeeds ?? []).map { RedisSlotMap.Node(host: $0.host, port: $0.port) }
        var best: RedisSlotMap?
        var seen: Set<RedisSlotMap.Node> = []
        for node in candidates where seen.insert(node).inserted {
            guard let map = await fetchMap(from: node) else { continue }
            if map.coveredSlots == RedisClusterSlots.count {
                best = map
                break
            }
            if map.coveredSlots > best?.coveredSlots ?? 0 { best = map }
        }
        state.withLock { state in
            state.refreshing = nil
            guard let best else { return }
            state.map = best
            state.refreshedAt = .now
        }
    }

    private func fetchMap(from node: RedisSlotMap.Node) async -> RedisSlotMap? {
        guard case .connected(let connection) = await RedisConnection.open(configuration: configuration(for: node), group: group) else { return nil }
        defer { connection.close() }
        if let reply = try? await connection.send([RedisCommand("CLUSTER", "SHARDS")]).first, reply.errorCode == nil,
            let map = RedisSlotMap.fromShards(reply, fallbackHost: node.host)
        {
            return map
        }
        if let reply = try? await connection.send([RedisCommand("CLUSTER", "SLOTS")]).first, reply.errorCode == nil {
            return RedisSlotMap.fromSlots(reply, fallbackHost: node.host)
        }
        return nil
    }
}

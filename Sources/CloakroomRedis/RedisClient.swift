import CloakroomCore
import CloakroomSessions
import Crypto
import Foundation
import Logging
import NIOCore
import Synchronization

/// The small RESP2 client the Redis stores share: a connection pool plus script loading.
///
/// Every failure surfaces as `StoreError.unavailable` with a message free of keys, values
/// and secrets (error replies are reduced to their code, such as `WRONGTYPE`).
final class RedisClient: Sendable {
    let configuration: RedisConfiguration
    /// The connections to standalone Redis or to the Sentinel-named primary (unused for a cluster).
    let pool: RedisConnectionPool
    /// With a `redis-cluster://` configuration: the router to each slot's primary.
    let cluster: RedisClusterRouter?
    /// SHA1 of each loaded script, by script name, as `SCRIPT LOAD` reported it.
    private let loadedScripts = Mutex<[String: String]>([:])
    /// With `redis-sentinel://`: the subscription that follows `+switch-master`.
    private let sentinelWatch: Task<Void, Never>?

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.pool = RedisConnectionPool(configuration: configuration, group: group, logger: logger)
        self.cluster = configuration.clusterSeeds == nil ? nil : RedisClusterRouter(configuration: configuration, group: group, logger: logger)
        let pool = self.pool
        self.sentinelWatch = RedisSentinel.watch(configuration, group: group, logger: logger) { _ in await pool.primaryChanged() }
    }

    /// Sends the commands, on one connection as a pipeline (in a cluster: to each key's primary);
    /// error replies are returned as values.
    func raw(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        if let cluster { return try await cluster.send(commands) }
        return try await pool.send(commands)
    }

    /// Sends one command; an error reply throws `unavailable`.
    func send(_ command: RedisCommand) async throws -> RESPValue {
        let replies = try await raw([command])
        guard let reply = replies.first else { throw StoreError.unavailable("redis sent no reply") }
        return try Self.checked(reply, command.name)
    }

    /// Sends the commands as one pipeline; an error reply in any position throws `unavailable`.
    func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        let replies = try await raw(commands)
        guard replies.count == commands.count else { throw StoreError.unavailable("redis sent too few replies") }
        return try zip(replies, commands).map { try Self.checked($0, $1.name) }
    }

    /// Runs `script` with `EVALSHA`, loading it first if needed and again after a `NOSCRIPT` reply
    /// (the server restarted, or someone ran `SCRIPT FLUSH`).
    func run(_ script: RedisScript, keys: [String], arguments: [[UInt8]]) async throws -> RESPValue {
        try await run(script, keys: keys.map { Array($0.utf8) }, arguments: arguments)
    }

    /// `run` with binary key names. With `durable` and `RedisConfiguration.replicaAcknowledgements`
    /// above 0, `WAIT` follows the script on the same connection, and the call fails `unavailable`
    /// unless that many replicas acknowledged the write within `replicaTimeout`.
    func run(durable: Bool = false, _ script: RedisScript, keys: [[UInt8]], arguments: [[UInt8]]) async throws -> RESPValue {
        let acknowledgements = durable ? configuration.replicaAcknowledgements : 0
        var sha = loadedScripts.withLock { $0[script.name] }
        if sha == nil { sha = try await load(script) }
        for attempt in 0..<2 {
            guard let current = sha else { break }
            let command = RedisCommand(
                bytes: [Array("EVALSHA".utf8), Array(current.utf8), Array(String(keys.count).utf8)]
                    + keys + arguments
            )
            var commands = [command]
            if acknowledgements > 0 {
                let timeout = RedisSessionStore.milliseconds(configuration.replicaTimeout)
                commands.append(RedisCommand("WAIT", String(acknowledgements), String(timeout)))
            }
            // On a cluster, WAIT (keyless) rides on the script's connection to its slot's primary.
            let replies: [RESPValue]
            if let cluster {
                replies = try await cluster.send(pinned: commands)
            } else {
                replies = try await raw(commands)
            }
            guard let reply = replies.first else { throw StoreError.unavailable("redis sent no reply") }
            if acknowledgements > 0, reply.errorCode == nil {
                let acknowledged = replies.count > 1 ? replies[1].int ?? 0 : 0
                guard acknowledged >= acknowledgements else {
                    throw StoreError.unavailable(
                        "redis: \(acknowledged) of \(acknowledgements) replicas acknowledged the write within \(configuration.replicaTimeout)"
                    )
                }
            }
            if reply.errorCode == "NOSCRIPT" && attempt == 0 {
                if cluster != nil {
                    // The node serving these keys lacks the script (a primary promoted after a
                    // failover: Redis does not replicate its script cache): EVAL runs it and
                    // caches it there, on the right node by construction.
                    let eval = RedisCommand(
                        bytes: [Array("EVAL".utf8), Array(script.source.utf8), Array(String(keys.count).utf8)] + keys + arguments
                    )
                    let reply = try await raw([eval]).first ?? .null
                    if let code = reply.errorCode { throw StoreError.unavailable("redis script \(script.name) failed (\(code))") }
                    return reply
                }
                sha = try await load(script)
                continue
            }
            if let code = reply.errorCode {
                throw StoreError.unavailable("redis script \(script.name) failed (\(code))")
            }
            return reply
        }
        throw StoreError.unavailable("redis script \(script.name) could not be loaded")
    }

    /// Walks every key matching `pattern` with `SCAN` (never `KEYS`; on a cluster, on every
    /// primary in turn), handing each page of names to `page`, until `page` returns false.
    func scan(matching pattern: String, page: ([[UInt8]]) async throws -> Bool) async throws {
        let nodes: [RedisSlotMap.Node?] = try await cluster?.primaries() ?? [nil]
        for node in nodes {
            var cursor = "0"
            repeat {
                let command = RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", "500")
                let reply: RESPValue
                if let node, let cluster {
                    reply = try Self.checked(try await cluster.send([command], to: node).first ?? .null, "SCAN")
                } else {
                    reply = try await send(command)
                }
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let names = parts[1].array else {
                    throw StoreError.unavailable("unexpected SCAN reply from redis")
                }
                cursor = next
                guard try await page(names.compactMap(\.bytes)) else { return }
            } while cursor != "0"
        }
    }

    /// The prefix of every key in the slot of `tag`: on a cluster the configured prefix then
    /// `{tag}` (a hash tag: the keys of one user share a slot), otherwise the configured prefix.
    /// On a cluster, a prefix holding a brace would move the hash tag: it is refused.
    func prefix(tag: KeyTag?) throws -> String {
        let base = configuration.keyPrefix
        guard cluster != nil, let tag else { return base }
        guard !base.contains("{"), !base.contains("}") else {
            throw StoreError.unavailable("redis cluster: the key prefix must not hold { or }")
        }
        return base + "{" + tag.hex + "}"
    }

    /// Closes every connection.
    func shutdown() async {
        sentinelWatch?.cancel()
        await pool.shutdown()
        await cluster?.shutdown()
    }

    private func load(_ script: RedisScript) async throws -> String {
        // In a cluster the digest is the same on every node (SHA1 of the source); a node that
        // lacks the script answers NOSCRIPT and gets it through EVAL (see `run`).
        if cluster != nil { return Self.sha1Hex(script.source) }
        let reply = try await send(RedisCommand("SCRIPT", "LOAD", script.source))
        guard let sha = reply.string, !sha.isEmpty else { throw StoreError.unavailable("redis SCRIPT LOAD gave no digest") }
        loadedScripts.withLock { $0[script.name] = sha }
        return sha
    }

    static func sha1Hex(_ text: String) -> String {
        Insecure.SHA1.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    private static func checked(_ reply: RESPValue, _ command: String) throws -> RESPValue {
        if let code = reply.errorCode {
            throw StoreError.unavailable("redis \(command) failed (\(code))")
        }
        return reply
    }
}

import CloakroomCore
public import CloakroomIdentity
import CloakroomSessions
public import Foundation
public import Logging
public import NIOCore
public import NIOPosix

/// Sign-in failure counters in Redis, so every node throttles the same attacker.
///
/// One hash per counter at `P t:<key>` (`P` is `RedisConfiguration.keyPrefix`) with `failures` and
/// `last` (milliseconds since 1970). `recordFailure` is one Lua script (read, restart if idle past
/// the window, increment, `PEXPIRE window`), so concurrent failures from many nodes all count.
/// Liveness is judged by the `now` callers pass, like `MemoryThrottleStore`; the TTL only frees
/// memory. Errors are `StoreError.unavailable`.
public struct RedisThrottleStore: ThrottleStore {
    let client: RedisClient

    /// Creates a store with its own connections (open on first use).
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "cloakroom.redis")
    ) {
        self.init(database: CloakroomRedisDatabase(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger))
    }

    /// Creates a store on `database`'s connections and key prefix (shared with its other stores).
    public init(database: CloakroomRedisDatabase) {
        self.client = database.client
    }

    /// Closes the connections (also those of a session store sharing them); later calls fail.
    public func shutdown() async {
        await client.shutdown()
    }

    private func counterKey(_ key: String) -> String { client.configuration.keyPrefix + "t:" + key }

    public func recordFailure(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState {
        let nowMs = RedisSessionStore.milliseconds(now)
        let windowMs = Int64(min(max((window * 1000).rounded(.up), 1), 9e15))
        let reply = try await client.run(
            Self.recordFailureScript,
            keys: [counterKey(key)],
            arguments: [Array(String(nowMs).utf8), Array(String(windowMs).utf8)]
        )
        guard let failures = reply.int else { throw StoreError.unavailable("unexpected reply from redis") }
        return ThrottleState(failures: Int(failures), lastFailure: Date(timeIntervalSince1970: Double(nowMs) / 1000))
    }

    public func state(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState? {
        let reply = try await client.send(RedisCommand("HMGET", counterKey(key), "failures", "last"))
        guard let fields = reply.array, fields.count == 2,
            let failures = fields[0].int, let last = fields[1].int
        else { return nil }
        let lastFailure = Date(timeIntervalSince1970: Double(last) / 1000)
        guard lastFailure.addingTimeInterval(window) > now else { return nil }
        return ThrottleState(failures: Int(failures), lastFailure: lastFailure)
    }

    public func reset(key: String) async throws {
        _ = try await client.send(RedisCommand("DEL", counterKey(key)))
    }

    /// KEYS: counter. ARGV: now, window (ms). Returns the new failure count.
    static let recordFailureScript = RedisScript(
        name: "recordFailure",
        source: """
            local v = redis.call('HMGET', KEYS[1], 'failures', 'last')
            local now = tonumber(ARGV[1])
            local window = tonumber(ARGV[2])
            local failures = 0
            if v[1] and v[2] and tonumber(v[2]) + window > now then failures = tonumber(v[1]) end
            failures = failures + 1
            redis.call('HSET', KEYS[1], 'failures', string.format('%d', failures), 'last', ARGV[1])
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return failures
            """
    )
}

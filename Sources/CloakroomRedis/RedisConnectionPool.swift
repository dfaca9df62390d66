import CloakroomSessions
import Logging
import NIOCore

/// Up to `poolSize` pipelining connections, opened on demand and reopened with backoff.
///
/// A request takes an idle connection, else opens a new one while under the limit, else shares the
/// least-loaded connection (pipelining). Dead connections are dropped when next looked at. After a
/// failed connect, further attempts wait 50 ms, 100 ms, … up to `maxReconnectDelay`; meanwhile
/// requests with no open connection fail at once with `SessionStoreError.unavailable`, so an outage
/// answers quickly and service resumes within `maxReconnectDelay` of Redis coming back.
actor RedisConnectionPool {
    private struct Slot {
        var connection: RedisConnection?
        var connecting: Task<RedisConnection, any Error>?
        var inFlight = 0
    }

    private let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private var slots: [Int: Slot] = [:]
    private var nextSlotID = 0
    private var consecutiveFailures = 0
    private var retryAfter: ContinuousClock.Instant?
    private var isShutdown = false

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// Sends the commands as one pipeline on one connection; error replies are returned as values.
    ///
    /// Throws `SessionStoreError.unavailable` when Redis cannot be reached, times out or misbehaves.
    func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        var retried = false
        while true {
            let (slotID, connection) = try await lease()
            do {
                let replies = try await connection.send(commands)
                release(slotID)
                return replies
            } catch let error as RedisConnectionError {
                release(slotID)
                // Nothing reached the server, so another connection may safely try.
                if error.kind == .notSent && !retried {
                    retried = true
                    continue
                }
                if error.kind == .timeout || error.kind == .protocolViolation {
                    logger.warning("redis connection abandoned", metadata: ["reason": "\(error)"])
                }
                throw SessionStoreError.unavailable(error.description)
            } catch {
                release(slotID)
                throw SessionStoreError.unavailable("redis request failed")
            }
        }
    }

    /// Closes every connection; later requests fail with `unavailable`.
    func shutdown() async {
        isShutdown = true
        let connections = slots.values.compactMap(\.connection)
        slots.removeAll()
        for connection in connections { await connection.closeAndWait() }
    }

    /// How many connections are open or opening (for tests).
    var connectionCount: Int { slots.count }

    private func lease() async throws -> (Int, RedisConnection) {
        while true {
            guard !isShutdown else { throw SessionStoreError.unavailable("redis client is shut down") }
            for (id, slot) in slots where slot.connection.map({ !$0.isActive }) ?? false {
                slots[id] = nil
            }
            let ready = slots.compactMap { id, slot in slot.connection.map { (id, $0, slot.inFlight) } }
            if let idle = ready.first(where: { $0.2 == 0 }) {
                return take(idle.0, idle.1)
            }
            let backingOff = retryAfter.map { ContinuousClock.now < $0 } ?? false
            if slots.count < max(configuration.poolSize, 1) && !backingOff {
                if let connection = try await open(allowFailure: !ready.isEmpty || hasConnecting) {
                    return connection
                }
                continue
            }
            if let shared = ready.min(by: { $0.2 < $1.2 }) {
                return take(shared.0, shared.1)
            }
            if let task = slots.values.lazy.compactMap(\.connecting).first {
                _ = try? await task.value
                continue
            }
            throw SessionStoreError.unavailable("redis unavailable; reconnecting")
        }
    }

    private var hasConnecting: Bool { slots.values.contains { $0.connecting != nil } }

    /// Opens a connection in a new slot and leases it. On failure returns nil when other
    /// connections may serve instead (`allowFailure`), else throws.
    private func open(allowFailure: Bool) async throws -> (Int, RedisConnection)? {
        let id = nextSlotID
        nextSlotID += 1
        let configuration = configuration
        let group = group
        let task = Task { () async throws -> RedisConnection in
            do {
                let connection = try await RedisConnection.connect(configuration: configuration, group: group)
                connected(id, connection)
                return connection
            } catch {
                connectFailed(id, error)
                throw error
            }
        }
        slots[id] = Slot(connecting: task)
        do {
            let connection = try await task.value
            guard slots[id]?.connection != nil else {
                if isShutdown { throw SessionStoreError.unavailable("redis client is shut down") }
                return nil
            }
            return take(id, connection)
        } catch {
            if allowFailure { return nil }
            throw error
        }
    }

    private func connected(_ id: Int, _ connection: RedisConnection) {
        if isShutdown {
            connection.close()
            slots[id] = nil
            return
        }
        if consecutiveFailures > 0 { logger.info("redis connection restored") }
        consecutiveFailures = 0
        retryAfter = nil
        slots[id] = Slot(connection: connection)
    }

    private func connectFailed(_ id: Int, _ error: any Error) {
        slots[id] = nil
        consecutiveFailures += 1
        let base = Duration.milliseconds(50) * (1 << min(consecutiveFailures - 1, 16))
        retryAfter = ContinuousClock.now + min(base, configuration.maxReconnectDelay)
        if consecutiveFailures == 1 {
            logger.warning("redis connection failed", metadata: ["error": "\(error)"])
        }
    }

    private func take(_ id: Int, _ connection: RedisConnection) -> (Int, RedisConnection) {
        slots[id]?.inFlight += 1
        return (id, connection)
    }

    private func release(_ id: Int) {
        slots[id]?.inFlight -= 1
    }
}

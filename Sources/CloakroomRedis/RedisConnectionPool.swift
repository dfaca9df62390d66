import CloakroomCore
import CloakroomSessions
import Logging
import NIOCore

/// Up to `poolSize` pipelining connections, opened on demand and reopened with backoff.
///
/// A request takes an idle connection, else opens a new one while under the limit, else shares the
/// least-loaded connection with fewer than `pipelineDepth` requests in flight. When every
/// connection is that busy it waits, first come first served, for a place, and fails with
/// `unavailable` if none frees up within `commandTimeout` (so overload sheds requests instead of
/// piling up replies that would time out and take whole connections down with them).
///
/// Dead connections are dropped when next looked at. After a failed connect, further attempts wait
/// 50 ms, 100 ms, … up to `maxReconnectDelay`; meanwhile requests with no open connection fail at
/// once with `StoreError.unavailable`, so an outage answers quickly and service resumes
/// within `maxReconnectDelay` of Redis coming back.
actor RedisConnectionPool {
    private struct Slot {
        var connection: RedisConnection?
        var connecting: Task<RedisConnection, any Error>?
        var inFlight = 0
    }

    private enum Grant {
        /// A place on this connection, already counted in its `inFlight`.
        case leased(Int, RedisConnection)
        /// Something changed: look again.
        case retry
        case failed(any Error)
    }

    private struct Waiter {
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Grant, Never>
    }

    private let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private var slots: [Int: Slot] = [:]
    private var waiters: CircularBuffer<Waiter> = []
    private var nextSlotID = 0
    private var consecutiveFailures = 0
    private var retryAfter: ContinuousClock.Instant?
    private var isShutdown = false
    /// Connections taken out of service by `primaryChanged` while requests were still on them:
    /// closed when the last one finishes.
    private var retiring: [Int: (connection: RedisConnection, inFlight: Int)] = [:]

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    private var poolSize: Int { max(configuration.poolSize, 1) }
    private var pipelineDepth: Int { max(configuration.pipelineDepth, 1) }

    /// Sends the commands as one pipeline on one connection; error replies are returned as values.
    ///
    /// Throws `StoreError.unavailable` when Redis cannot be reached, times out or misbehaves.
    func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        var retried = false
        while true {
            let slotID: Int
            let connection: RedisConnection
            do {
                (slotID, connection) = try await lease()
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError.unavailable("cannot connect to redis")
            }
            do {
                let replies = try await connection.send(commands)
                // A primary demoted to a replica after a failover refuses writes (and did nothing):
                // drop the connection (out of the pool first, so no one else is handed it), so
                // the next one asks the Sentinels again, and try once more.
                if configuration.sentinel != nil, replies.contains(where: { $0.errorCode == "READONLY" }) {
                    slots[slotID] = nil
                    connection.close()
                    release(slotID)
                    if !retried {
                        retried = true
                        continue
                    }
                    throw StoreError.unavailable("redis primary changed (READONLY): a failover is under way")
                }
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
                throw StoreError.unavailable(error.description)
            } catch {
                release(slotID)
                throw StoreError.unavailable("redis request failed")
            }
        }
    }

    /// Closes every connection; waiting and later requests fail with `unavailable`.
    func shutdown() async {
        isShutdown = true
        let connections = slots.values.compactMap(\.connection) + retiring.values.map(\.connection)
        slots.removeAll()
        retiring.removeAll()
        wakeAll(.failed(StoreError.unavailable("redis client is shut down")))
        for connection in connections { await connection.closeAndWait() }
    }

    /// The Sentinels announced a new primary (`+switch-master`): no request is given a connection
    /// to the old one any more. Idle connections close now, busy ones when their requests finish
    /// (none is cut mid-request); the next request connects to the primary the Sentinels name.
    func primaryChanged() {
        for (id, slot) in slots {
            guard let connection = slot.connection else { continue }
            slots[id] = nil
            if slot.inFlight == 0 {
                connection.close()
            } else {
                retiring[id] = (connection, slot.inFlight)
            }
        }
        consecutiveFailures = 0
        retryAfter = nil
        wakeAll(.retry)
    }

    /// How many connections are open or opening (for tests).
    var connectionCount: Int { slots.count }

    private func lease() async throws -> (Int, RedisConnection) {
        let deadline = ContinuousClock.now + configuration.commandTimeout
        while true {
            guard !isShutdown else { throw StoreError.unavailable("redis client is shut down") }
            for (id, slot) in slots where slot.connection.map({ !$0.isActive }) ?? false {
                slots[id] = nil
            }
            let ready = slots.compactMap { id, slot in slot.connection.map { (id, $0, slot.inFlight) } }
            if let idle = ready.first(where: { $0.2 == 0 }) {
                return take(idle.0, idle.1)
            }
            let backingOff = retryAfter.map { ContinuousClock.now < $0 } ?? false
            if slots.count < poolSize && !backingOff {
                if let connection = try await open(allowFailure: !ready.isEmpty || hasConnecting) {
                    return connection
                }
                continue
            }
            if let shared = ready.filter({ $0.2 < pipelineDepth }).min(by: { $0.2 < $1.2 }) {
                return take(shared.0, shared.1)
            }
            if ready.isEmpty && !hasConnecting {
                throw StoreError.unavailable("redis unavailable; reconnecting")
            }
            guard ContinuousClock.now < deadline else {
                throw StoreError.unavailable("redis busy: no connection free within the command timeout")
            }
            let grant = await withCheckedContinuation { continuation in
                waiters.append(Waiter(deadline: deadline, continuation: continuation))
            }
            switch grant {
            case .leased(let id, let connection): return (id, connection)
            case .retry: continue
            case .failed(let error): throw error
            }
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
                let target = try await RedisSentinel.resolve(configuration, group: group)
                let connection = try await RedisConnection.connect(configuration: target, group: group)
                if configuration.sentinel != nil { try await RedisSentinel.confirmPrimary(connection) }
                connected(id, connection)
                return connection
            } catch {
                connectFailed(id, error)
                throw error
            }
        }
        slots[id] = Slot(connecting: task, inFlight: 1)
        do {
            let connection = try await task.value
            guard slots[id]?.connection != nil else {
                if isShutdown { throw StoreError.unavailable("redis client is shut down") }
                return nil
            }
            return (id, connection)
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
        // The opener's place (counted when the slot was made) plus as many waiters as fit.
        var inFlight = slots[id]?.inFlight ?? 1
        while inFlight < pipelineDepth, let waiter = nextLiveWaiter() {
            inFlight += 1
            waiter.continuation.resume(returning: .leased(id, connection))
        }
        slots[id] = Slot(connection: connection, inFlight: inFlight)
    }

    private func connectFailed(_ id: Int, _ error: any Error) {
        slots[id] = nil
        consecutiveFailures += 1
        let base = Duration.milliseconds(50) * (1 << min(consecutiveFailures - 1, 16))
        retryAfter = ContinuousClock.now + min(base, configuration.maxReconnectDelay)
        if consecutiveFailures == 1 {
            logger.warning("redis connection failed", metadata: ["error": "\(error)"])
        }
        // Waiters look again: they share another connection or fail fast.
        wakeAll(.retry)
    }

    private func take(_ id: Int, _ connection: RedisConnection) -> (Int, RedisConnection) {
        slots[id]?.inFlight += 1
        return (id, connection)
    }

    /// Gives the finished request's place to the first waiter, or frees it.
    private func release(_ id: Int) {
        if var retired = retiring[id] {
            retired.inFlight -= 1
            if retired.inFlight <= 0 {
                retired.connection.close()
                retiring[id] = nil
            } else {
                retiring[id] = retired
            }
        }
        guard let slot = slots[id] else {
            if let waiter = nextLiveWaiter() { waiter.continuation.resume(returning: .retry) }
            return
        }
        if let connection = slot.connection, connection.isActive, let waiter = nextLiveWaiter() {
            waiter.continuation.resume(returning: .leased(id, connection))
            return
        }
        slots[id]?.inFlight -= 1
        if slot.connection?.isActive == false, let waiter = nextLiveWaiter() {
            // The connection died: the waiter may open a new one.
            waiter.continuation.resume(returning: .retry)
        }
    }

    /// The first waiter still within its deadline; those past it fail.
    private func nextLiveWaiter() -> Waiter? {
        let now = ContinuousClock.now
        while let waiter = waiters.popFirst() {
            if waiter.deadline > now { return waiter }
            waiter.continuation.resume(returning: .failed(StoreError.unavailable("redis busy: no connection free within the command timeout")))
        }
        return nil
    }

    private func wakeAll(_ grant: Grant) {
        while let waiter = waiters.popFirst() { waiter.continuation.resume(returning: grant) }
    }
}

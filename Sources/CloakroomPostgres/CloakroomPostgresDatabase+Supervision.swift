import CloakroomCore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

extension CloakroomPostgresDatabase {
    // MARK: - Pool supervision

    /// How often `run()` checks whether the pool is stuck after an outage.
    static let recoveryCheckInterval: Duration = .milliseconds(500)
    /// How long a replaced pool keeps serving the calls already on it.
    static let retiredPoolGrace: Duration = .seconds(5)

    /// Notes a call that worked; logs once when calls start working again.
    func recordSuccess() {
        let recovered = state.withLock { state -> Bool in
            guard state.failingSince != nil else { return false }
            state.failingSince = nil
            return true
        }
        if recovered { logger.notice("PostgreSQL answers again", metadata: ["database": "\(configuration)"]) }
    }

    /// Notes a call that could not reach the server; logs once per outage.
    func recordFailure(_ failure: PostgresStoreError) {
        let first = state.withLock { state -> Bool in
            guard state.failingSince == nil else { return false }
            state.failingSince = .now
            return true
        }
        if first {
            logger.warning("PostgreSQL unreachable", metadata: ["database": "\(configuration)", "error": "\(failure.message)"])
        }
    }

    /// Runs the current pool; replaces it when calls have failed for a while, the pool still cannot
    /// serve `SELECT 1`, yet a fresh connection can.
    func superviseClients() async {
        await withDiscardingTaskGroup { pools in
            var retire = Self.start(state.withLock { $0.client }, in: &pools)
            while !Task.isCancelled {
                do { try await Task.sleep(for: Self.recoveryCheckInterval) } catch { break }
                let failingSince = state.withLock { $0.failingSince }
                guard let failingSince, failingSince.duration(to: .now) >= configuration.timeout else { continue }
                guard await serverAnswers() else { continue }
                if await poolAnswers() {
                    recordSuccess()
                    continue
                }
                let fresh: PostgresClient
                do { fresh = try Self.makeClient(configuration, logger: logger) } catch { continue }
                let retireFresh = Self.start(fresh, in: &pools)
                state.withLock { $0.client = fresh }
                retire.finish()
                retire = retireFresh
                logger.notice("PostgreSQL is back; replaced the connection pool", metadata: ["database": "\(configuration)"])
                recordSuccess()
            }
            retire.finish()
            pools.cancelAll()
        }
    }

    /// Runs `client` as a child of `pools` until the returned continuation is finished (then after a
    /// grace period) or `pools` is cancelled.
    static func start(_ client: PostgresClient, in pools: inout DiscardingTaskGroup) -> AsyncStream<Void>.Continuation {
        let (retired, retire) = AsyncStream<Void>.makeStream()
        pools.addTask {
            await withTaskGroup(of: Void.self) { pool in
                pool.addTask { await client.run() }
                for await _ in retired {}
                if !Task.isCancelled { try? await Task.sleep(for: retiredPoolGrace) }
                pool.cancelAll()
            }
        }
        return retire
    }

    /// Whether a fresh, unpooled connection can run `SELECT 1` within the timeout.
    func serverAnswers() async -> Bool {
        let leased = LeasedConnection()
        let configuration = configuration
        let logger = logger
        do {
            try await Self.withDeadline(configuration.timeout, "probe", onTimeout: { leased.close() }) {
                let connection = try await PostgresConnection.connect(
                    configuration: try Self.connectionConfiguration(configuration),
                    id: 0,
                    logger: logger
                )
                leased.set(connection)
                do {
                    try await connection.query("SELECT 1", logger: logger)
                } catch {
                    leased.close()
                    throw error
                }
                try? await connection.close()
            }
            return true
        } catch {
            return false
        }
    }

    /// Whether the current pool serves `SELECT 1` promptly.
    func poolAnswers() async -> Bool {
        do {
            _ = try await withConnection("probe", timeout: .milliseconds(500), recordingHealth: false) { connection in
                try await connection.query("SELECT 1", logger: self.logger).collect()
            }
            return true
        } catch {
            return false
        }
    }
}

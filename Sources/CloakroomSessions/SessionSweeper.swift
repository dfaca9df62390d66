public import CloakroomCore
import CoreMetrics
import Foundation
public import Logging
public import ServiceLifecycle

/// Removes expired sessions from any store in the background.
///
/// Works in batches of `batchSize`, yielding between batches, so a sweep of a million expired
/// records never holds the store (or the request path) for long. Stops on graceful shutdown.
public struct SessionSweeper: Service {
    let store: any SweepableStore
    let interval: Duration
    let batchSize: Int
    let clock: any CloakroomClock
    let logger: Logger
    let metrics: SessionMetrics?

    /// Creates a sweeper that runs every `interval`; `metrics` counts what it removes.
    public init(
        store: any SweepableStore,
        interval: Duration = .seconds(60),
        batchSize: Int = 1_000,
        clock: any CloakroomClock = SystemClock(),
        logger: Logger = Logger(label: "cloakroom.sweeper"),
        metrics: SessionMetrics? = nil
    ) {
        self.metrics = metrics
        self.store = store
        self.interval = interval
        self.batchSize = batchSize
        self.clock = clock
        self.logger = logger
    }

    /// Sweeps every `interval` until cancelled or shut down gracefully.
    public func run() async throws {
        // Sleeping is cancelled on graceful shutdown, so stopping never waits out an interval.
        try? await cancelWhenGracefulShutdown { try await loop() }
    }

    private func loop() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            do {
                let removed = try await sweepOnce()
                if removed > 0 { logger.debug("swept expired sessions", metadata: ["count": "\(removed)"]) }
            } catch {
                logger.warning("session sweep failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Removes every session expired now, batch by batch; returns how many.
    @discardableResult
    public func sweepOnce() async throws -> Int {
        let now = clock.now()
        var total = 0
        while !Task.isCancelled {
            let removed = try await store.deleteExpired(now: now, limit: batchSize)
            total += removed
            if removed > 0 { metrics?.expiredBySweep.increment(by: removed) }
            if removed < batchSize { break }
            await Task.yield()
        }
        return total
    }
}

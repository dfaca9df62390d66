import CloakroomCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle
import Synchronization

extension CloakroomPostgresDatabase {
    /// Runs `body`, throwing a timeout error (after calling `onTimeout`) if it takes longer than `limit`.
    ///
    /// `body` runs as an unstructured task and races a timer on one of NIO's event loops; the
    /// first to finish answers the caller, and the other is cancelled. The caller never waits for
    /// the loser: a task group would, and a `body` that does not end on cancellation (a wait for a
    /// connection from a pool that is being replaced) would then hold the caller past its
    /// deadline, for ever. At the deadline `onTimeout` closes the connection `body` is using, so a
    /// statement on a dead socket fails at once. The timer is an event loop's scheduled task, not
    /// a sleeping task: a task and a dispatch timer per statement cost about a tenth of the
    /// throughput of a signed-in request on PostgreSQL.
    static func withDeadline<T: Sendable>(
        _ limit: Duration,
        _ what: String,
        onTimeout: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = DeadlineRace<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.arm(continuation)
                let work = Task {
                    do {
                        race.finish(.success(try await body()))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
                let timer = NIOSingletons.posixEventLoopGroup.any().scheduleTask(in: limit.timeAmount) {
                    if race.finish(.failure(PostgresStoreError.timedOut(what, after: limit))) {
                        onTimeout()
                        work.cancel()
                    }
                }
                race.whenFinished {
                    timer.cancel()
                    work.cancel()
                }
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }
}

/// The first result of a race, handed to the one waiting caller; later ones are dropped.
final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var finished = false
        var onFinish: (@Sendable () -> Void)?
    }

    private let state = Mutex<State>(State())

    func arm(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Runs `action` once the race is decided (at once if it is).
    func whenFinished(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.finished { return true }
            state.onFinish = action
            return false
        }
        if now { action() }
    }

    /// Answers the caller with `result` if nothing has yet; whether this call did.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let taken = state.withLock { state -> (CheckedContinuation<T, any Error>, (@Sendable () -> Void)?)? in
            // Decided already, or not armed yet (cancelled before it began: the timer answers).
            guard !state.finished, let continuation = state.continuation else { return nil }
            state.finished = true
            state.continuation = nil
            defer { state.onFinish = nil }
            return (continuation, state.onFinish)
        }
        guard let (continuation, onFinish) = taken else { return false }
        continuation.resume(with: result)
        onFinish?()
        return true
    }
}

/// The connection a call is using, so a timeout can close it under a statement that hangs.
final class LeasedConnection: Sendable {
    private let connection = Mutex<PostgresConnection?>(nil)

    func set(_ value: PostgresConnection?) {
        connection.withLock { $0 = value }
    }

    func close() {
        guard let connection = connection.withLock({ $0 }) else { return }
        let closed: EventLoopFuture<Void> = connection.close()
        closed.whenComplete { _ in }
    }
}

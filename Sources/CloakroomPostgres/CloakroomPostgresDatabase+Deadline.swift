import CloakroomCore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

extension CloakroomPostgresDatabase {
    /// Runs `body`, throwing a timeout error (after calling `onTimeout`) if it takes longer than `limit`.
    ///
    /// The caller gets its answer at the deadline even if `body` does not react to cancellation at
    /// once (a statement on a dead socket): `body` is cancelled and left to finish on its own, instead
    /// of a task group waiting for it, which would stretch a 2 s timeout to however long the socket takes.
    static func withDeadline<T: Sendable>(
        _ limit: Duration,
        _ what: String,
        onTimeout: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let outcome = DeadlineOutcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.install(continuation)
                let work = Task {
                    do {
                        outcome.finish(.success(try await body()))
                    } catch {
                        outcome.finish(.failure(error))
                    }
                }
                outcome.setWork(work)
                Task {
                    try? await Task.sleep(for: limit)
                    if outcome.finish(.failure(PostgresStoreError.timedOut(what, after: limit))) {
                        onTimeout()
                        work.cancel()
                    }
                }
            }
        } onCancel: {
            outcome.cancel()
        }
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

/// The first of a call's result, its deadline or its cancellation wins; the others are ignored.
final class DeadlineOutcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var pending: Result<T, any Error>?
        var work: Task<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let pending = state.withLock { state -> Result<T, any Error>? in
            state.continuation = continuation
            return state.pending
        }
        if let pending { continuation.resume(with: pending) }
    }

    func setWork(_ work: Task<Void, Never>) {
        let cancelled = state.withLock { state -> Bool in
            state.work = work
            return state.finished
        }
        if cancelled { work.cancel() }
    }

    /// Delivers `result` if nothing was delivered yet; returns whether it was.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>?? in
            guard !state.finished else { return .none }
            state.finished = true
            guard let continuation = state.continuation else {
                state.pending = result
                return .some(nil)
            }
            state.continuation = nil
            return .some(continuation)
        }
        switch continuation {
        case .none: return false
        case .some(let resume):
            resume?.resume(with: result)
            return true
        }
    }

    func cancel() {
        let work = state.withLock { $0.work }
        if finish(.failure(CancellationError())) { work?.cancel() }
    }
}

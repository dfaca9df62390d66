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
    /// `body` and a timer race as two child tasks; the first to finish wins and the other is
    /// cancelled. At the deadline `onTimeout` closes the connection `body` is using, so a statement
    /// on a dead socket fails at once instead of holding the caller, and a wait for a connection
    /// ends on cancellation.
    static func withDeadline<T: Sendable>(
        _ limit: Duration,
        _ what: String,
        onTimeout: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard case let first?? = try await group.next() else {
                onTimeout()
                throw PostgresStoreError.timedOut(what, after: limit)
            }
            return first
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

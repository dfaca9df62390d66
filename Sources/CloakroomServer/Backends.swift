import CloakroomIdentity
import CloakroomSQLite
import CloakroomSessions
import Foundation
import Logging

/// The stores a server (or a CLI command) works on, opened from a `StoreLocation`.
struct Backends: Sendable {
    let sessions: any SessionStore
    let accounts: any AccountStore
    let throttle: any ThrottleStore
    let purgeThrottle: @Sendable (Date) async throws -> Int
    let close: @Sendable () async throws -> Void

    static func open(_ location: StoreLocation, logger: Logger) async throws -> Backends {
        switch location {
        case .memory:
            return Backends(
                sessions: MemorySessionStore(), accounts: MemoryAccountStore(), throttle: MemoryThrottleStore(),
                purgeThrottle: { _ in 0 }, close: {})
        case .sqlite(let path):
            let database = try await CloakroomSQLiteDatabase.open(path: path, logger: logger)
            let throttle = SQLiteThrottleStore(database: database)
            return Backends(
                sessions: SQLiteSessionStore(database: database),
                accounts: SQLiteAccountStore(database: database),
                throttle: throttle,
                purgeThrottle: { try await throttle.purge(before: $0.addingTimeInterval(-86_400)) },
                close: { try await database.close() })
        }
    }
}

import CloakroomIdentity
import CloakroomSQLite
import CloakroomSessions
import Foundation
import Logging
import ServiceLifecycle

/// The stores a server (or a CLI command) works on.
///
/// `sessions` and `throttle` (every expiring record) live at the store URL; accounts are durable
/// and live in SQLite, PostgreSQL or memory (`--accounts`, by default the store itself when it can
/// hold accounts, else `sqlite:./cloakroom.sqlite`).
struct Backends: Sendable {
    let sessions: any SessionStore
    let accounts: any AccountStore
    let throttle: any ThrottleStore
    let purgeThrottle: @Sendable (Date) async throws -> Int
    /// Background work the backends need while the server runs (connection pools).
    let services: [any Service]
    let close: @Sendable () async throws -> Void

    static func open(_ location: StoreLocation, accounts accountsLocation: StoreLocation? = nil, logger: Logger) async throws -> Backends {
        let accountsAt = accountsLocation ?? location.defaultAccounts
        guard accountsAt.canHoldAccounts else {
            throw ConfigurationError("accounts cannot live in \(accountsAt): use sqlite:PATH, postgres://… or memory")
        }
        var closers: [@Sendable () async throws -> Void] = []
        let services: [any Service] = []
        var sqliteFiles: [String: CloakroomSQLiteDatabase] = [:]
        func sqlite(_ path: String) async throws -> CloakroomSQLiteDatabase {
            if let open = sqliteFiles[path] { return open }
            let database = try await CloakroomSQLiteDatabase.open(path: path, logger: logger)
            sqliteFiles[path] = database
            closers.append { try await database.close() }
            return database
        }

        let sessions: any SessionStore
        let throttle: any ThrottleStore
        let purge: @Sendable (Date) async throws -> Int
        switch location {
        case .memory:
            sessions = MemorySessionStore()
            throttle = MemoryThrottleStore()
            purge = { _ in 0 }
        case .sqlite(let path):
            let database = try await sqlite(path)
            let counters = SQLiteThrottleStore(database: database)
            sessions = SQLiteSessionStore(database: database)
            throttle = counters
            purge = { try await counters.purge(before: $0.addingTimeInterval(-86_400)) }
        case .file(let directory):
            let url = URL(fileURLWithPath: directory, isDirectory: true)
            sessions = try FileSessionStore(directory: url)
            let counters = try FileThrottleStore(directory: url)
            throttle = counters
            purge = { try await counters.purge(before: $0.addingTimeInterval(-86_400)) }
        }

        let accounts: any AccountStore
        switch accountsAt {
        case .memory:
            accounts = MemoryAccountStore()
        case .sqlite(let path):
            accounts = SQLiteAccountStore(database: try await sqlite(path))
        case .file:
            throw ConfigurationError("accounts cannot live in \(accountsAt)")
        }

        let allClosers = closers
        return Backends(
            sessions: sessions, accounts: accounts, throttle: throttle, purgeThrottle: purge, services: services,
            close: { for close in allClosers { try? await close() } })
    }
}

extension StoreLocation {
    /// Where accounts go when `--accounts` is not given.
    var defaultAccounts: StoreLocation {
        switch self {
        case .memory, .sqlite: self
        case .file: .sqlite(path: "./cloakroom.sqlite")
        }
    }

    /// Durable stores that can hold accounts.
    var canHoldAccounts: Bool {
        switch self {
        case .memory, .sqlite: true
        case .file: false
        }
    }
}

import CloakroomCore
public import CloakroomIdentity
public import Foundation
import SQLiteNIO

/// Accounts in the SQLite file (`accounts` table; unique index on the normalised username).
public struct SQLiteAccountStore: IterableAccountStore {
    let database: CloakroomSQLiteDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomSQLiteDatabase) {
        self.database = database
    }

    public func create(_ account: Account) async throws {
        do {
            try await database.query(
                "INSERT INTO accounts (id, username, username_key, password_hash, created_at, disabled) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(account.id), .text(account.username), .text(Account.normalize(account.username)),
                    .text(account.passwordHash), account.createdAt.sqlite, .integer(account.disabled ? 1 : 0),
                ]
            )
        } catch let error as SQLiteStoreError where error.isConstraint {
            throw IdentityError.usernameTaken()
        }
    }

    public func account(username: String) async throws -> Account? {
        let keys = Account.lookupKeys(username)
        let rows = try await database.read(
            "SELECT \(Self.columns) FROM accounts WHERE username_key IN (\(keys.map { _ in "?" }.joined(separator: ", ")))",
            keys.map { .text($0) }
        )
        // The current key wins over a legacy one.
        let row = rows.first { $0.column("username_key")?.string == keys[0] } ?? rows.first
        return row.map(Self.account(from:))
    }

    public func account(id: String) async throws -> Account? {
        try await database.read("SELECT \(Self.columns) FROM accounts WHERE id = ?", [.text(id)]).first.map(Self.account(from:))
    }

    public func updatePasswordHash(id: String, hash: String) async throws {
        try await database.query("UPDATE accounts SET password_hash = ? WHERE id = ?", [.text(hash), .text(id)])
    }

    public func setDisabled(id: String, _ disabled: Bool) async throws {
        try await database.query("UPDATE accounts SET disabled = ? WHERE id = ?", [.integer(disabled ? 1 : 0), .text(id)])
    }

    public func delete(id: String) async throws -> Bool {
        !(try await database.query("DELETE FROM accounts WHERE id = ? RETURNING id", [.text(id)])).isEmpty
    }

    public func all() async throws -> [Account] {
        try await database.read("SELECT \(Self.columns) FROM accounts ORDER BY username_key").map(Self.account(from:))
    }

    private static let columns = "id, username, username_key, password_hash, created_at, disabled"

    private static func account(from row: CloakroomSQLiteDatabase.Row) -> Account {
        Account(
            id: row.column("id")?.string ?? "",
            username: row.column("username")?.string ?? "",
            passwordHash: row.column("password_hash")?.string ?? "",
            createdAt: row.column("created_at")?.date ?? Date(timeIntervalSince1970: 0),
            disabled: (row.column("disabled")?.integer ?? 0) != 0
        )
    }
}

/// Sign-in failure counters in the SQLite file (`throttle` table), one atomic upsert per failure.
public struct SQLiteThrottleStore: ThrottleStore {
    let database: CloakroomSQLiteDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomSQLiteDatabase) {
        self.database = database
    }

    public func recordFailure(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState {
        let rows = try await database.query(
            """
            INSERT INTO throttle (key, failures, last_failure) VALUES (?, 1, ?)
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN throttle.last_failure + ? > excluded.last_failure THEN throttle.failures + 1 ELSE 1 END,
                last_failure = excluded.last_failure
            RETURNING failures, last_failure
            """,
            [.text(key), now.sqlite, .float(window)]
        )
        guard let row = rows.first, let failures = row.column("failures")?.integer, let last = row.column("last_failure")?.date else {
            throw SQLiteStoreError("throttle upsert returned no row")
        }
        return ThrottleState(failures: Int(failures), lastFailure: last)
    }

    public func state(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState? {
        let rows = try await database.read(
            "SELECT failures, last_failure FROM throttle WHERE key = ? AND last_failure + ? > ?",
            [.text(key), .float(window), now.sqlite]
        )
        guard let row = rows.first, let failures = row.column("failures")?.integer, let last = row.column("last_failure")?.date else { return nil }
        return ThrottleState(failures: Int(failures), lastFailure: last)
    }

    public func reset(key: String) async throws {
        try await database.query("DELETE FROM throttle WHERE key = ?", [.text(key)])
    }

    /// Removes counters idle since before `cutoff`; returns how many.
    @discardableResult
    public func purge(before cutoff: Date) async throws -> Int {
        try await database.deleteInChunks(
            "DELETE FROM throttle WHERE key IN (SELECT key FROM throttle WHERE last_failure < ? LIMIT ?) RETURNING key",
            [cutoff.sqlite],
            limit: .max
        )
    }
}

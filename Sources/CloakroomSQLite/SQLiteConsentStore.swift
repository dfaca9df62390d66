import CloakroomCore
public import CloakroomOAuth
import Foundation
import SQLiteNIO

/// What each user allowed each OAuth client, in the SQLite file beside the accounts
/// (`oauth_consents`, migration 4): one row per user and client, the scopes space-separated, the
/// time in integer milliseconds.
public struct SQLiteConsentStore: ConsentStore {
    let database: CloakroomSQLiteDatabase

    /// Creates the store over an open (migrated) database.
    public init(database: CloakroomSQLiteDatabase) {
        self.database = database
    }

    public func consent(userID: String, clientID: String) async throws -> Consent? {
        try await run {
            try await database.read(
                "SELECT user_id, client_id, scope, granted_at FROM oauth_consents WHERE user_id = ? AND client_id = ?",
                [.text(userID), .text(clientID)]
            )
        }
        .first.map(Self.consent(from:))
    }

    public func record(_ consent: Consent) async throws {
        _ = try await run {
            try await database.query(
                """
                INSERT INTO oauth_consents (user_id, client_id, scope, granted_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at
                """,
                [
                    .text(consent.userID), .text(consent.clientID), .text(consent.scope.description),
                    .integer(Int(consent.grantedAt.storedMilliseconds)),
                ]
            )
        }
    }

    public func revoke(userID: String, clientID: String) async throws -> Bool {
        !(try await run {
            try await database.query(
                "DELETE FROM oauth_consents WHERE user_id = ? AND client_id = ? RETURNING client_id",
                [.text(userID), .text(clientID)]
            )
        }).isEmpty
    }

    public func consents(ofUser userID: String) async throws -> [Consent] {
        try await run {
            try await database.read(
                "SELECT user_id, client_id, scope, granted_at FROM oauth_consents WHERE user_id = ? ORDER BY granted_at DESC, client_id DESC",
                [.text(userID)]
            )
        }
        .map(Self.consent(from:))
    }

    public func revokeAll(clientID: String) async throws -> Int {
        try await run { try await database.query("DELETE FROM oauth_consents WHERE client_id = ? RETURNING user_id", [.text(clientID)]) }.count
    }

    private func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    private static func consent(from row: CloakroomSQLiteDatabase.Row) throws -> Consent {
        guard let user = row.column("user_id")?.string, let client = row.column("client_id")?.string,
            let text = row.column("scope")?.string, let scope = try? Scope(parsing: text),
            let milliseconds = row.column("granted_at")?.integer
        else {
            throw StoreError.unavailable("malformed oauth_consents row")
        }
        return Consent(userID: user, clientID: client, scope: scope, grantedAt: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}

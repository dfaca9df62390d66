import CloakroomCore
public import CloakroomOAuth
import Foundation
import SQLiteNIO

/// Links to accounts at other OpenID providers, in the SQLite file beside the accounts
/// (`federated_identities`, migration 5): one row per provider and subject.
public struct SQLiteFederatedIdentityStore: FederatedIdentityStore {
    let database: CloakroomSQLiteDatabase

    /// Creates the store over an open (migrated) database.
    public init(database: CloakroomSQLiteDatabase) {
        self.database = database
    }

    public func link(_ identity: FederatedIdentity) async throws {
        do {
            try await database.query(
                "INSERT INTO federated_identities (provider, subject, user_id, linked_at) VALUES (?, ?, ?, ?)",
                [.text(identity.provider), .text(identity.subject), .text(identity.userID), .integer(Int(identity.linkedAt.storedMilliseconds))]
            )
        } catch let error as SQLiteStoreError where error.isConstraint {
            throw StoreError.duplicateKey()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    public func identity(provider: String, subject: String) async throws -> FederatedIdentity? {
        try await run {
            try await database.read(
                "SELECT provider, subject, user_id, linked_at FROM federated_identities WHERE provider = ? AND subject = ?",
                [.text(provider), .text(subject)]
            )
        }
        .first.map(Self.identity(from:))
    }

    public func identities(ofUser userID: String) async throws -> [FederatedIdentity] {
        try await run {
            try await database.read(
                "SELECT provider, subject, user_id, linked_at FROM federated_identities WHERE user_id = ? ORDER BY linked_at, provider",
                [.text(userID)]
            )
        }
        .map(Self.identity(from:))
    }

    public func unlink(provider: String, userID: String) async throws -> Bool {
        !(try await run {
            try await database.query(
                "DELETE FROM federated_identities WHERE provider = ? AND user_id = ? RETURNING subject",
                [.text(provider), .text(userID)]
            )
        }).isEmpty
    }

    private func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    private static func identity(from row: CloakroomSQLiteDatabase.Row) throws -> FederatedIdentity {
        guard let provider = row.column("provider")?.string, let subject = row.column("subject")?.string,
            let user = row.column("user_id")?.string, let milliseconds = row.column("linked_at")?.integer
        else {
            throw StoreError.unavailable("malformed federated_identities row")
        }
        return FederatedIdentity(
            provider: provider,
            subject: subject,
            userID: user,
            linkedAt: Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        )
    }
}

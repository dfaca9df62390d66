import CloakroomCore
public import CloakroomOAuth
import Foundation
import SQLiteNIO

/// Registered OAuth clients in the SQLite file, beside the accounts (`oauth_clients`, migration 3):
/// the ID, the creation time (integer milliseconds, for the listing's order) and the client as a
/// JSON document (`OAuthClient.document()`).
public struct SQLiteOAuthClientStore: OAuthClientStore {
    let database: CloakroomSQLiteDatabase

    /// Creates the store over an open (migrated) database.
    public init(database: CloakroomSQLiteDatabase) {
        self.database = database
    }

    public func insert(_ client: OAuthClient) async throws {
        let document = try client.document()
        do {
            try await database.query(
                "INSERT INTO oauth_clients (id, created_at, document) VALUES (?, ?, ?)",
                [.text(client.id), .integer(Int(client.createdAt.storedMilliseconds)), .text(document)]
            )
        } catch let error as SQLiteStoreError where error.isConstraint {
            throw StoreError.duplicateKey()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    public func client(id: String) async throws -> OAuthClient? {
        try await run { try await database.read("SELECT document FROM oauth_clients WHERE id = ?", [.text(id)]) }
            .first.map(Self.client(from:))
    }

    public func update(_ client: OAuthClient) async throws -> Bool {
        let document = try client.document()
        return
            !(try await run {
                try await database.query("UPDATE oauth_clients SET document = ? WHERE id = ? RETURNING id", [.text(document), .text(client.id)])
            }).isEmpty
    }

    public func delete(id: String) async throws -> Bool {
        !(try await run { try await database.query("DELETE FROM oauth_clients WHERE id = ? RETURNING id", [.text(id)]) }).isEmpty
    }

    public func all() async throws -> [OAuthClient] {
        try await run { try await database.read("SELECT document FROM oauth_clients ORDER BY created_at, id") }
            .map(Self.client(from:))
    }

    private func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    private static func client(from row: CloakroomSQLiteDatabase.Row) throws -> OAuthClient {
        guard let document = row.column("document")?.string, let client = try? OAuthClient(document: document) else {
            throw StoreError.unavailable("malformed oauth_clients row")
        }
        return client
    }
}

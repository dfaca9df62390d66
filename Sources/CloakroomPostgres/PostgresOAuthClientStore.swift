import CloakroomCore
public import CloakroomOAuth
import Foundation
import PostgresNIO

/// Registered OAuth clients in PostgreSQL, beside the accounts (`cloakroom_oauth_clients`,
/// migration 3): the ID, the creation time (for the listing's order) and the client as a JSON
/// document (`OAuthClient.document()`), so every node of a cluster agrees on them.
public struct PostgresOAuthClientStore: OAuthClientStore {
    let database: CloakroomPostgresDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomPostgresDatabase) {
        self.database = database
    }

    public func insert(_ client: OAuthClient) async throws {
        let document = try client.document()
        do {
            try await database.query(
                "INSERT INTO cloakroom_oauth_clients (id, created_at, document) VALUES (\(client.id), \(client.createdAt), \(document))",
                "client insert"
            )
        } catch let error as PostgresStoreError where error.isUniqueViolation {
            throw StoreError.duplicateKey()
        }
    }

    public func client(id: String) async throws -> OAuthClient? {
        try await database.query("SELECT document FROM cloakroom_oauth_clients WHERE id = \(id)", "client lookup")
            .first.map(Self.client(from:))
    }

    public func update(_ client: OAuthClient) async throws -> Bool {
        let document = try client.document()
        return
            !(try await database.query(
                "UPDATE cloakroom_oauth_clients SET document = \(document) WHERE id = \(client.id) RETURNING id",
                "client update"
            )).isEmpty
    }

    public func delete(id: String) async throws -> Bool {
        !(try await database.query("DELETE FROM cloakroom_oauth_clients WHERE id = \(id) RETURNING id", "client delete")).isEmpty
    }

    public func all() async throws -> [OAuthClient] {
        try await database.query("SELECT document FROM cloakroom_oauth_clients ORDER BY created_at, id", "client listing")
            .map(Self.client(from:))
    }

    private static func client(from row: PostgresRow) throws -> OAuthClient {
        guard let document = try? row.decode(String.self), let client = try? OAuthClient(document: document) else {
            throw PostgresStoreError("malformed client row")
        }
        return client
    }
}

import CloakroomCore
public import CloakroomOAuth
import Foundation
import PostgresNIO

/// Links to accounts at other OpenID providers, in PostgreSQL beside the accounts
/// (`cloakroom_federated_identities`, migration 5), so every node of a cluster agrees.
public struct PostgresFederatedIdentityStore: FederatedIdentityStore {
    let database: CloakroomPostgresDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomPostgresDatabase) {
        self.database = database
    }

    public func link(_ identity: FederatedIdentity) async throws {
        do {
            _ = try await database.query(
                """
                INSERT INTO cloakroom_federated_identities (provider, subject, user_id, linked_at)
                VALUES (\(identity.provider), \(identity.subject), \(identity.userID), \(identity.linkedAt))
                """,
                "federated link"
            )
        } catch let error as PostgresStoreError where error.isUniqueViolation {
            throw StoreError.duplicateKey()
        }
    }

    public func identity(provider: String, subject: String) async throws -> FederatedIdentity? {
        try await database.query(
            """
            SELECT provider, subject, user_id, linked_at FROM cloakroom_federated_identities
            WHERE provider = \(provider) AND subject = \(subject)
            """,
            "federated lookup"
        )
        .first.map(Self.identity(from:))
    }

    public func identities(ofUser userID: String) async throws -> [FederatedIdentity] {
        try await database.query(
            """
            SELECT provider, subject, user_id, linked_at FROM cloakroom_federated_identities
            WHERE user_id = \(userID) ORDER BY linked_at, provider
            """,
            "federated listing"
        )
        .map(Self.identity(from:))
    }

    public func unlink(provider: String, userID: String) async throws -> Bool {
        !(try await database.query(
            "DELETE FROM cloakroom_federated_identities WHERE provider = \(provider) AND user_id = \(userID) RETURNING subject",
            "federated unlink"
        )).isEmpty
    }

    private static func identity(from row: PostgresRow) throws -> FederatedIdentity {
        guard let (provider, subject, user, linkedAt) = try? row.decode((String, String, String, Date).self) else {
            throw PostgresStoreError("malformed federated identity row")
        }
        return FederatedIdentity(provider: provider, subject: subject, userID: user, linkedAt: linkedAt)
    }
}

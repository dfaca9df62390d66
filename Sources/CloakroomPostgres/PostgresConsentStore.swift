import CloakroomCore
public import CloakroomOAuth
import Foundation
import PostgresNIO

/// What each user allowed each OAuth client, in PostgreSQL beside the accounts
/// (`cloakroom_oauth_consents`, migration 4), so every node of a cluster agrees.
public struct PostgresConsentStore: ConsentStore {
    let database: CloakroomPostgresDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomPostgresDatabase) {
        self.database = database
    }

    public func consent(userID: String, clientID: String) async throws -> Consent? {
        try await database.query(
            "SELECT user_id, client_id, scope, granted_at FROM cloakroom_oauth_consents WHERE user_id = \(userID) AND client_id = \(clientID)",
            "consent lookup"
        )
        .first.map(Self.consent(from:))
    }

    public func record(_ consent: Consent) async throws {
        let scope = consent.scope.description
        _ = try await database.query(
            """
            INSERT INTO cloakroom_oauth_consents (user_id, client_id, scope, granted_at)
            VALUES (\(consent.userID), \(consent.clientID), \(scope), \(consent.grantedAt))
            ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at
            """,
            "consent record"
        )
    }

    public func revoke(userID: String, clientID: String) async throws -> Bool {
        !(try await database.query(
            "DELETE FROM cloakroom_oauth_consents WHERE user_id = \(userID) AND client_id = \(clientID) RETURNING client_id",
            "consent revoke"
        )).isEmpty
    }

    public func consents(ofUser userID: String) async throws -> [Consent] {
        try await database.query(
            """
            SELECT user_id, client_id, scope, granted_at FROM cloakroom_oauth_consents
            WHERE user_id = \(userID) ORDER BY granted_at DESC, client_id DESC
            """,
            "consent listing"
        )
        .map(Self.consent(from:))
    }

    public func revokeAll(clientID: String) async throws -> Int {
        try await database.query("DELETE FROM cloakroom_oauth_consents WHERE client_id = \(clientID) RETURNING user_id", "consent revoke all").count
    }

    private static func consent(from row: PostgresRow) throws -> Consent {
        guard let (user, client, text, grantedAt) = try? row.decode((String, String, String, Date).self), let scope = try? Scope(parsing: text) else {
            throw PostgresStoreError("malformed consent row")
        }
        return Consent(userID: user, clientID: client, scope: scope, grantedAt: grantedAt)
    }
}

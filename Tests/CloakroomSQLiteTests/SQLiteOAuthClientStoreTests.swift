import CloakroomOAuth
import CloakroomSQLite
import CloakroomTesting
import Testing

/// The shared OAuth client store contract against a real SQLite file, one fresh file per check.
@Suite("OAuthClientStore conformance (SQLite)")
struct SQLiteOAuthClientStoreTests {
    @Test("SQLite file", arguments: OAuthClientStoreConformance.checkNames)
    func sqlite(_ check: String) async throws {
        let path = TemporaryFile.path("clients")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            try await OAuthClientStoreConformance.run(only: [check]) { SQLiteOAuthClientStore(database: database) }
        }
    }
}

/// The shared consent store contract against a real SQLite file, one fresh file per check.
@Suite("ConsentStore conformance (SQLite)")
struct SQLiteConsentStoreTests {
    @Test("SQLite file", arguments: ConsentStoreConformance.checkNames)
    func sqlite(_ check: String) async throws {
        let path = TemporaryFile.path("consents")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            try await ConsentStoreConformance.run(only: [check]) { SQLiteConsentStore(database: database) }
        }
    }
}

/// The shared federated identity store contract against a real SQLite file.
@Suite("FederatedIdentityStore conformance (SQLite)")
struct SQLiteFederatedIdentityStoreTests {
    @Test("SQLite file", arguments: FederatedIdentityStoreConformance.checkNames)
    func sqlite(_ check: String) async throws {
        let path = TemporaryFile.path("federated")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            try await FederatedIdentityStoreConformance.run(only: [check]) { SQLiteFederatedIdentityStore(database: database) }
        }
    }
}

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

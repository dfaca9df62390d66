import CloakroomPostgres
import CloakroomSessions
import CloakroomTesting
import Testing

extension PostgresTests {
    /// The shared store contract, each check on its own empty database.
    @Suite("SessionStore conformance")
    struct Conformance {
        @Test("PostgreSQL", arguments: SessionStoreConformance.checkNames)
        func postgres(_ check: String) async throws {
            try await PostgresFixture.withFreshDatabase { database in
                try await SessionStoreConformance.run(only: [check]) { PostgresSessionStore(database: database) }
            }
        }
    }
}

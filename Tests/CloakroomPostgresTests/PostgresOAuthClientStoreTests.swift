import CloakroomOAuth
import CloakroomPostgres
import CloakroomTesting
import Testing

extension PostgresTests {
    /// The shared OAuth client store contract, each check on its own empty database.
    @Suite("OAuthClientStore")
    struct OAuthClientStore {
        @Test("PostgreSQL conformance", arguments: OAuthClientStoreConformance.checkNames)
        func conformance(_ check: String) async throws {
            try await PostgresFixture.withFreshDatabase { database in
                try await OAuthClientStoreConformance.run(only: [check]) { PostgresOAuthClientStore(database: database) }
            }
        }
    }
}

extension PostgresTests {
    /// The shared consent store contract, each check on its own empty database.
    @Suite("ConsentStore")
    struct ConsentStore {
        @Test("PostgreSQL conformance", arguments: ConsentStoreConformance.checkNames)
        func conformance(_ check: String) async throws {
            try await PostgresFixture.withFreshDatabase { database in
                try await ConsentStoreConformance.run(only: [check]) { PostgresConsentStore(database: database) }
            }
        }
    }
}

extension PostgresTests {
    /// The shared federated identity store contract, each check on its own empty database.
    @Suite("FederatedIdentityStore")
    struct FederatedIdentityStore {
        @Test("PostgreSQL conformance", arguments: FederatedIdentityStoreConformance.checkNames)
        func conformance(_ check: String) async throws {
            try await PostgresFixture.withFreshDatabase { database in
                try await FederatedIdentityStoreConformance.run(only: [check]) { PostgresFederatedIdentityStore(database: database) }
            }
        }
    }
}

extension PostgresTests {
    /// The session epoch contract (what revokes cookie sessions), each check on its own database.
    @Suite("SessionEpochStore")
    struct SessionEpochStore {
        @Test("PostgreSQL conformance", arguments: SessionEpochStoreConformance.checkNames)
        func conformance(_ check: String) async throws {
            try await PostgresFixture.withFreshDatabase { database in
                try await SessionEpochStoreConformance.run(only: [check]) { PostgresSessionEpochStore(database: database) }
            }
        }
    }
}

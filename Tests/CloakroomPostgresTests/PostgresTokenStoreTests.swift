import CloakroomCore
import CloakroomPostgres
import CloakroomTesting
import CloakroomTokens
import Foundation
import Testing

extension PostgresTests {
    /// The shared token store contract, each check on its own empty database, plus races between nodes.
    @Suite("TokenStore")
    struct TokenStore {
        static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

        @Test("PostgreSQL conformance", arguments: TokenStoreConformance.checkNames)
        func conformance(_ check: String) async throws {
            try await PostgresFixture.withFreshDatabase { database in
                try await TokenStoreConformance.run(only: [check]) { PostgresTokenStore(database: database) }
            }
        }

        /// Two nodes (two pools) on one database, as a cluster would run.
        static func withTwoNodes(_ body: @Sendable (PostgresTokenStore, PostgresTokenStore) async throws -> Void) async throws {
            let url = try await PostgresFixture.sharedServer().freshDatabase()
            var configuration = try PostgresFixture.configuration(url)
            configuration.timeout = .seconds(15)
            let second = configuration
            try await CloakroomPostgresDatabase.withDatabase(configuration: configuration) { a in
                try await CloakroomPostgresDatabase.withDatabase(configuration: second) { b in
                    try await body(PostgresTokenStore(database: a), PostgresTokenStore(database: b))
                }
            }
        }

        static func token(_ name: String, family: String) -> RefreshTokenRecord {
            RefreshTokenRecord(
                key: SecureToken.hash(name),
                familyID: family,
                userID: "u",
                clientID: "c",
                scope: "",
                issuedAt: t0,
                expiresAt: t0.addingTimeInterval(600),
                familyExpiresAt: t0.addingTimeInterval(3600)
            )
        }

        @Test("rotations of one token from two nodes: exactly one wins, the family dies")
        func twoNodesRace() async throws {
            try await Self.withTwoNodes { a, b in
                let stores = [a, b]
                for round in 0..<5 {
                    let first = Self.token("race-\(round)", family: "fam-\(round)")
                    try await a.insertRefreshToken(first)
                    let outcomes = try await withThrowingTaskGroup(of: RefreshRotation.self) { group in
                        for i in 0..<10 {
                            group.addTask {
                                try await stores[i % 2].rotateRefreshToken(
                                    key: first.key,
                                    newKey: SecureToken.hash("race-\(round)-\(i)"),
                                    now: Self.t0.addingTimeInterval(1),
                                    lifetime: 60
                                )
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(outcomes.filter { if case .rotated = $0 { true } else { false } }.count == 1, "round \(round): \(outcomes)")
                    #expect(try await b.revokeFamily(first.familyID) == 0, "round \(round): the family survived the reuse")
                }
            }
        }

        @Test("a family revoked while it rotates on another node leaves no live token")
        func revocationRacesRotation() async throws {
            try await Self.withTwoNodes { a, b in
                for round in 0..<8 {
                    let family = "fam-\(round)"
                    try await a.insertRefreshToken(Self.token("chain-\(round)-0", family: family))
                    async let rotations: Int = {
                        var step = 0
                        while step < 200 {
                            let outcome = try await a.rotateRefreshToken(
                                key: SecureToken.hash("chain-\(round)-\(step)"),
                                newKey: SecureToken.hash("chain-\(round)-\(step + 1)"),
                                now: Self.t0.addingTimeInterval(Double(step)),
                                lifetime: 600
                            )
                            guard case .rotated = outcome else { return step }
                            step += 1
                        }
                        return step
                    }()
                    try await Task.sleep(for: .milliseconds(5 * (round % 4)))
                    _ = try await b.revokeFamily(family)
                    let steps = try await rotations
                    #expect(try await a.revokeFamily(family) == 0, "round \(round): a token survived revocation after \(steps) rotations")
                }
            }
        }
    }
}

import CloakroomCore
import CloakroomSQLite
import CloakroomTesting
import CloakroomTokens
import Foundation
import Testing

/// The shared token store contract against a real SQLite file, one fresh file per check.
@Suite("TokenStore conformance (SQLite)")
struct SQLiteTokenStoreTests {
    @Test("SQLite file", arguments: TokenStoreConformance.checkNames)
    func sqlite(_ check: String) async throws {
        let path = TemporaryFile.path("tokens")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            try await TokenStoreConformance.run(only: [check]) { SQLiteTokenStore(database: database) }
        }
    }

    @Test("two connections on one file: exactly one rotation wins")
    func twoConnectionsRace() async throws {
        let path = TemporaryFile.path("tokens-race")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { first in
            try await withDatabase(path) { second in
                // Two connections = two server processes sharing the file.
                let stores = [SQLiteTokenStore(database: first), SQLiteTokenStore(database: second)]
                let now = Date(timeIntervalSince1970: 1_767_225_600)
                for round in 0..<5 {
                    let record = RefreshTokenRecord(
                        key: SecureToken.hash("race-\(round)"),
                        familyID: "fam-\(round)",
                        userID: "u",
                        clientID: "c",
                        scope: "",
                        issuedAt: now,
                        expiresAt: now.addingTimeInterval(600),
                        familyExpiresAt: now.addingTimeInterval(3600)
                    )
                    try await stores[0].insertRefreshToken(record)
                    let outcomes = try await withThrowingTaskGroup(of: RefreshRotation.self) { group in
                        for i in 0..<8 {
                            group.addTask {
                                try await stores[i % 2].rotateRefreshToken(
                                    key: record.key,
                                    newKey: SecureToken.hash("race-\(round)-\(i)"),
                                    now: now.addingTimeInterval(1),
                                    lifetime: 60
                                )
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    let winners = outcomes.filter { if case .rotated = $0 { true } else { false } }
                    #expect(winners.count == 1, "round \(round): \(outcomes)")
                    #expect(try await stores[1].revokeFamily(record.familyID) == 0, "round \(round): the family survived the reuse")
                }
            }
        }
    }
}

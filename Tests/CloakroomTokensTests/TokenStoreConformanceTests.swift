import CloakroomCore
import CloakroomTesting
import CloakroomTokens
import Foundation
import Testing

@Suite("TokenStore conformance (memory)")
struct MemoryTokenStoreConformanceTests {
    @Test("memory", arguments: TokenStoreConformance.checkNames)
    func memory(_ check: String) async throws {
        try await TokenStoreConformance.run(only: [check]) { MemoryTokenStore() }
    }
}

@Suite("TokenStore conformance (file folder)")
struct FileTokenStoreConformanceTests {
    @Test("file folder", arguments: TokenStoreConformance.checkNames)
    func files(_ check: String) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-tokens-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try await TokenStoreConformance.run(only: [check]) { try FileTokenStore(directory: folder) }
    }

    @Test("two stores on one folder: exactly one rotation wins, indexes are cleaned up")
    func twoStoresShareAFolder() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-tokens-shared-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Two stores = two lock descriptors, as two server processes would have.
        let stores = [try FileTokenStore(directory: folder), try FileTokenStore(directory: folder)]
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        for round in 0..<4 {
            let record = RefreshTokenRecord(
                key: SecureToken.hash("race-\(round)"),
                familyID: "fam-\(round)",
                userID: "user-\(round % 2)",
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
            #expect(outcomes.filter { if case .rotated = $0 { true } else { false } }.count == 1, "round \(round): \(outcomes)")
        }
        // Every family died of reuse; nothing is left behind in the token or index folders.
        let tokens = folder.appendingPathComponent("tokens")
        for sub in ["refresh", "families", "users"] {
            let left = try FileManager.default.contentsOfDirectory(atPath: tokens.appendingPathComponent(sub).path)
            #expect(left.isEmpty, "\(sub) still holds \(left)")
        }
    }

    @Test("files are named by hashes only; expired tokens leave no index behind")
    func layout() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-tokens-layout-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try FileTokenStore(directory: folder)
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        let record = RefreshTokenRecord(
            key: SecureToken.hash("secret-token"),
            familyID: "family-x",
            userID: "alice@example.com",
            clientID: "c",
            scope: "openid",
            issuedAt: now,
            expiresAt: now.addingTimeInterval(60),
            familyExpiresAt: now.addingTimeInterval(600)
        )
        try await store.insertRefreshToken(record)
        try await store.raiseEpoch(forUser: "alice@example.com", to: 5, keepUntil: now.addingTimeInterval(60))
        try await store.denyTokenID("jti-secret", until: now.addingTimeInterval(60))
        let tokens = folder.appendingPathComponent("tokens")
        let all = try #require(FileManager.default.subpaths(atPath: tokens.path))
        for raw in ["secret-token", "family-x", "alice", "jti-secret"] {
            #expect(!all.contains { $0.contains(raw) }, "\(raw) appears in \(all)")
        }
        #expect(all.contains("refresh/\(record.key).json"))
        #expect(all.contains("families/\(SecureToken.hash("family-x"))/\(record.key)"))
        #expect(all.contains("users/\(SecureToken.hash("alice@example.com"))/\(SecureToken.hash("family-x"))"))
        #expect(try await store.deleteExpired(now: now.addingTimeInterval(60), limit: 100) == 3)
        for sub in ["refresh", "families", "users", "epochs", "denied"] {
            #expect(try FileManager.default.contentsOfDirectory(atPath: tokens.appendingPathComponent(sub).path).isEmpty, "\(sub) not empty")
        }
    }
}

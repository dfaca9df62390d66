import CloakroomCore
import CloakroomTesting
import CloakroomTokens
import Foundation
import Testing

@testable import CloakroomRedis

/// `RedisTokenStore` runs the shared token store contract against a real redis-server, and leaves
/// only hashed token keys, each with a TTL.
@Suite("Redis TokenStore")
struct RedisTokenStoreTests {
    @Test("conformance", arguments: TokenStoreConformance.checkNames)
    func conformance(_ check: String) async throws {
        try await RedisTestServer.with { server in
            try await withStore(configuration(server, prefix: uniquePrefix("tokens"))) { sessions in
                try await TokenStoreConformance.run(only: [check]) { RedisTokenStore(database: sessions.database) }
            }
        }
    }

    @Test("key layout: hashed token keys, every key with a TTL at its record's expiry, no KEYS")
    func layout() async throws {
        try await RedisTestServer.with { server in
            let prefix = uniquePrefix("token-layout")
            let config = configuration(server, prefix: prefix)
            try await withRawClient(config) { raw in _ = try await raw.send(RedisCommand("CONFIG", "RESETSTAT")) }
            try await withStore(config) { sessions in
                let store = RedisTokenStore(database: sessions.database)
                let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000)
                let first = RefreshTokenRecord(
                    key: SecureToken.hash("secret-a"),
                    familyID: "fam-x",
                    userID: "alice",
                    clientID: "cli",
                    scope: "openid",
                    issuedAt: now,
                    expiresAt: now.addingTimeInterval(600),
                    familyExpiresAt: now.addingTimeInterval(3600)
                )
                try await store.insertRefreshToken(first)
                guard
                    case .rotated(let second) = try await store.rotateRefreshToken(
                        key: first.key,
                        newKey: SecureToken.hash("secret-b"),
                        now: now.addingTimeInterval(1),
                        lifetime: 1200
                    )
                else {
                    Issue.record("rotation failed")
                    return
                }
                try await store.raiseEpoch(forUser: "alice", to: 5, keepUntil: now.addingTimeInterval(900))
                try await store.denyTokenID("jti-1", until: now.addingTimeInterval(300))
                #expect(
                    try await store.revocationState(userID: "alice", tokenID: "jti-1", sessionID: nil, now: now)
                        == RevocationState(epoch: 5, denied: true)
                )
                #expect(try await store.deleteExpired(now: now, limit: 100) == 0)

                try await withRawClient(config) { raw in
                    let stats = try #require(try await raw.send(RedisCommand("INFO", "commandstats")).string)
                    #expect(!stats.contains("cmdstat_keys:"), "the store used KEYS")
                    #expect(stats.contains("cmdstat_scan:"))
                    let keys = try await raw.allKeys().sorted()
                    #expect(
                        keys
                            == [
                                prefix + "r:" + first.key, prefix + "r:" + second.key, prefix + "rd:jti-1",
                                prefix + "re:alice", prefix + "rf:fam-x", prefix + "ru:alice",
                            ].sorted()
                    )
                    let fields = try await raw.send(RedisCommand("HGETALL", prefix + "r:" + first.key)).array ?? []
                    let names = stride(from: 0, to: fields.count, by: 2).compactMap { fields[$0].string }.sorted()
                    #expect(names == ["client", "exp", "family", "fexp", "issued", "scope", "used", "user"])
                    for key in keys {
                        #expect(!key.contains("secret"))
                        let type = try await raw.send(RedisCommand("TYPE", key)).string
                        if type == "hash" {
                            let values = try await raw.send(RedisCommand("HGETALL", key)).array ?? []
                            #expect(values.compactMap(\.string).allSatisfy { !$0.contains("secret") })
                        }
                    }
                    func expiry(_ key: String) async throws -> Int64? {
                        try await raw.send(RedisCommand("PEXPIRETIME", prefix + key)).int
                    }
                    func ms(_ date: Date) -> Int64 { RedisSessionStore.milliseconds(date) }
                    // The used token keeps its own expiry (reuse is detected until then).
                    #expect(try await expiry("r:" + first.key) == ms(first.expiresAt))
                    #expect(try await expiry("r:" + second.key) == ms(second.expiresAt))
                    // Index sets expire with their newest member.
                    #expect(try await expiry("rf:fam-x") == ms(second.expiresAt))
                    #expect(try await expiry("ru:alice") == ms(second.expiresAt))
                    #expect(try await expiry("re:alice") == ms(now.addingTimeInterval(900)))
                    #expect(try await expiry("rd:jti-1") == ms(now.addingTimeInterval(300)))
                }

                // A lower raise keeps the epoch and never shortens its expiry.
                try await store.raiseEpoch(forUser: "alice", to: 3, keepUntil: now.addingTimeInterval(100))
                #expect(try await store.revocationState(userID: "alice", tokenID: "x", sessionID: nil, now: now.addingTimeInterval(800)).epoch == 5)
                #expect(try await store.revokeRefreshTokens(forUser: "alice") == 2)
                try await withRawClient(config) { raw async throws in
                    #expect(try await raw.allKeys().sorted() == [prefix + "rd:jti-1", prefix + "re:alice"])
                }
            }
        }
    }

    @Test("expired entries Redis still holds are swept; the index sets go with the last token")
    func sweepCleansIndexes() async throws {
        try await RedisTestServer.with { server in
            let config = configuration(server, prefix: uniquePrefix("token-sweep"))
            try await withStore(config) { sessions in
                let store = RedisTokenStore(database: sessions.database)
                // Times in the past on the Redis clock: every key lives for the grace period.
                let t0 = Date(timeIntervalSince1970: 1_767_225_600)
                for i in 0..<30 {
                    try await store.insertRefreshToken(
                        RefreshTokenRecord(
                            key: SecureToken.hash("s\(i)"),
                            familyID: "fam-\(i % 6)",
                            userID: "user-\(i % 6 % 2)",
                            clientID: "c",
                            scope: "",
                            issuedAt: t0,
                            expiresAt: t0.addingTimeInterval(10),
                            familyExpiresAt: t0.addingTimeInterval(100)
                        )
                    )
                }
                var total = 0
                while true {
                    let removed = try await store.deleteExpired(now: t0.addingTimeInterval(10), limit: 7)
                    #expect(removed <= 7)
                    if removed == 0 { break }
                    total += removed
                }
                #expect(total == 30)
                try await withRawClient(config) { raw async throws in
                    #expect(try await raw.allKeys().isEmpty)
                }
            }
        }
    }
}

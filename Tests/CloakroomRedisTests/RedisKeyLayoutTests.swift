import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomRedis

/// What the store leaves in Redis: hashed keys only, and everything with a TTL.
@Suite("Redis key layout")
struct RedisKeyLayoutTests {
    @Test("raw session IDs never reach Redis; session and user index keys have TTLs")
    func hashedKeysAndTTLs() async throws {
        try await RedisTestServer.with { server in
            let prefix = uniquePrefix("layout")
            let config = configuration(server, prefix: prefix)
            try await withStore(config) { store in
                let manager = SessionManager(store: store)
                let session = try await manager.load(cookieValue: nil)
                session.setValue("\"blue\"", forKey: "colour")
                guard case .set(let anonymousID, _) = try await manager.commit(session) else {
                    Issue.record("no cookie for a new session")
                    return
                }
                try await manager.signIn(session, userID: "alice")
                let id = try #require(session.cookieValue)
                #expect(id != anonymousID)

                try await withRawClient(config) { raw in
                    let keys = try await raw.allKeys().sorted()
                    #expect(keys == [prefix + "s:" + SecureToken.hash(id), prefix + "u:alice"])
                    for key in keys {
                        #expect(!key.contains(id) && !key.contains(anonymousID))
                        let ttl = try #require(try await raw.send(RedisCommand("PTTL", key)).int)
                        #expect(ttl > 0, "\(key) has no TTL")
                    }
                    let values = try await raw.send(RedisCommand("HGETALL", prefix + "s:" + SecureToken.hash(id))).array ?? []
                    #expect(values.compactMap(\.string).allSatisfy { !$0.contains(id) && !$0.contains(anonymousID) })
                    let fields = stride(from: 0, to: values.count, by: 2).compactMap { values[$0].string }.sorted()
                    #expect(fields == ["abs", "exp", "idle", "json", "lastSeen", "user", "version"])
                    // The session key expires at the record's expiry; the index no earlier.
                    let record = try #require(try await store.load(key: SecureToken.hash(id), now: Date()))
                    let sessionAt = try #require(try await raw.send(RedisCommand("PEXPIRETIME", prefix + "s:" + record.key)).int)
                    let indexAt = try #require(try await raw.send(RedisCommand("PEXPIRETIME", prefix + "u:alice")).int)
                    #expect(sessionAt == RedisSessionStore.milliseconds(record.expiresAt))
                    #expect(indexAt >= sessionAt)
                    let score = try await raw.send(RedisCommand("ZSCORE", prefix + "u:alice", record.key)).string.flatMap { Double($0) }
                    #expect(score.map { Int64($0) } == sessionAt)
                }
                try await manager.destroy(session)
                try await withRawClient(config) { raw in
                    let left = try await raw.allKeys()
                    #expect(left.isEmpty, "destroy left keys behind")
                }
            }
        }
    }

    @Test("a session key and its user index vanish on their own at expiry")
    func serverSideExpiry() async throws {
        try await RedisTestServer.with { server in
            var config = configuration(server)
            config.expiryGrace = .zero
            try await withStore(config) { store in
                let now = Date()
                let record = SessionRecord(
                    key: SecureToken.hash("short"),
                    handle: "h",
                    userID: "bob",
                    createdAt: now,
                    lastSeen: now,
                    idleExpiresAt: now.addingTimeInterval(6),
                    absoluteExpiresAt: now.addingTimeInterval(60)
                )
                try await store.insert(record)
                try await withRawClient(config) { raw in
                    let index = config.keyPrefix + "u:bob"
                    let session = config.keyPrefix + "s:" + record.key
                    for key in [index, session] {
                        let at = try await raw.send(RedisCommand("PEXPIRETIME", key)).int
                        #expect(at == RedisSessionStore.milliseconds(record.expiresAt), "\(key)")
                    }
                    // Generous margins: a loaded CI machine may take seconds between these steps.
                    try await Task.sleep(until: .now + .seconds(now.addingTimeInterval(6.5).timeIntervalSinceNow))
                    let left = try await raw.send(RedisCommand("EXISTS", index, session)).int
                    #expect(left == 0)
                }
                #expect(try await store.records(forUser: "bob", now: now).isEmpty)
            }
        }
    }

    @Test("records already expired on the Redis clock live for the grace period, then go")
    func pastExpiryGetsGrace() async throws {
        try await RedisTestServer.with { server in
            var config = configuration(server)
            config.expiryGrace = .seconds(30)
            try await withStore(config) { store in
                let past = Date(timeIntervalSince1970: 1_767_225_600)
                let record = SessionRecord(
                    key: SecureToken.hash("past"),
                    handle: "h",
                    userID: "carol",
                    createdAt: past,
                    lastSeen: past,
                    idleExpiresAt: past.addingTimeInterval(1800),
                    absoluteExpiresAt: past.addingTimeInterval(43_200)
                )
                try await store.insert(record)
                #expect(try await store.load(key: record.key, now: past) != nil)
                #expect(try await store.records(forUser: "carol", now: past).count == 1)
                #expect(try await store.load(key: record.key, now: Date()) == nil)
                try await withRawClient(config) { raw in
                    for key in [config.keyPrefix + "s:" + record.key, config.keyPrefix + "u:carol"] {
                        let ttl = try #require(try await raw.send(RedisCommand("PTTL", key)).int)
                        #expect(ttl > 25_000 && ttl <= 30_000, "\(key) TTL \(ttl)")
                    }
                }
            }
        }
    }

    @Test("prefixes with glob characters only match themselves in SCAN")
    func globPrefix() async throws {
        try await RedisTestServer.with { server in
            let t0 = Date()
            let other = configuration(server, prefix: "app1:")
            let globby = configuration(server, prefix: "app*:")
            try await withStore(other) { store in
                try await store.insert(
                    SessionRecord(key: "k1", handle: "h1", createdAt: t0, lastSeen: t0, idleExpiresAt: t0 + 10, absoluteExpiresAt: t0 + 10)
                )
            }
            try await withStore(globby) { store in
                try await store.insert(
                    SessionRecord(key: "k2", handle: "h2", createdAt: t0, lastSeen: t0, idleExpiresAt: t0 + 10, absoluteExpiresAt: t0 + 10)
                )
                #expect(try await store.list(now: t0, afterKey: nil, limit: 10).map(\.key) == ["k2"])
                #expect(try await store.deleteExpired(now: t0 + 20, limit: 10) == 1)
            }
            try await withStore(other) { store in
                let keys = try await store.list(now: t0, afterKey: nil, limit: 10).map(\.key)
                #expect(keys == ["k1"])
            }
        }
    }

    @Test("a foreign key of another type under the prefix does not break sweeps or listings")
    func foreignKey() async throws {
        try await RedisTestServer.with { server in
            let config = configuration(server)
            let t0 = Date()
            try await withRawClient(config) { raw in
                _ = try await raw.send(RedisCommand("SET", config.keyPrefix + "s:zzz", "not a session"))
            }
            try await withStore(config) { store in
                try await store.insert(
                    SessionRecord(key: "k1", handle: "h1", createdAt: t0, lastSeen: t0, idleExpiresAt: t0 + 10, absoluteExpiresAt: t0 + 10)
                )
                #expect(try await store.list(now: t0, afterKey: nil, limit: 10).map(\.key) == ["k1"])
                #expect(try await store.deleteExpired(now: t0 + 20, limit: 10) == 1)
                #expect(try await store.list(now: t0, afterKey: nil, limit: 10).isEmpty)
                // A load of it is a backend failure, not a crash.
                let error = await #expect(throws: StoreError.self) { _ = try await store.load(key: "zzz", now: t0) }
                #expect(error?.isUnavailable == true)
            }
        }
    }
}

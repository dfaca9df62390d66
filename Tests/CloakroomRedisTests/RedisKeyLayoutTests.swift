import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomRedis

/// What the store leaves in Redis: hashed keys only (as 32 bytes), compact binary records, and
/// everything with a TTL.
@Suite("Redis key layout")
struct RedisKeyLayoutTests {
    /// The Redis name of the session whose hex key is `key`.
    static func sessionKey(_ prefix: String, _ key: String) throws -> [UInt8] {
        Array((prefix + "s:").utf8) + (try #require(RedisSessionStore.keyBytes(key)))
    }

    /// Runs a one-key command on a binary key name.
    static func get(_ raw: RedisClient, _ name: [UInt8], _ command: String) async throws -> RESPValue {
        try await raw.send(RedisCommand(bytes: [Array(command.utf8), name]))
    }

    static func allKeyBytes(_ raw: RedisClient) async throws -> [[UInt8]] {
        try await raw.send(RedisCommand("KEYS", "*")).array?.compactMap(\.bytes) ?? []
    }

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

                let sessionName = try Self.sessionKey(prefix, SecureToken.hash(id))
                try await withRawClient(config) { raw in
                    let names = try await Self.allKeyBytes(raw).sorted { $0.lexicographicallyPrecedes($1) }
                    #expect(names == [sessionName, Array((prefix + "u:alice").utf8)])
                    for name in names {
                        let text = String(decoding: name, as: UTF8.self)
                        #expect(!text.contains(id) && !text.contains(anonymousID) && !text.contains(SecureToken.hash(id)))
                        let ttl = try #require(try await Self.get(raw, name, "PTTL").int)
                        #expect(ttl > 0, "\(text) has no TTL")
                    }
                    // One string: the record's compact binary form, no session ID in it.
                    #expect(try await Self.get(raw, sessionName, "TYPE").string == "string")
                    let value = try #require(try await Self.get(raw, sessionName, "GET").bytes)
                    let text = String(decoding: value, as: UTF8.self)
                    #expect(!text.contains(id) && !text.contains(anonymousID))
                    let record = try #require(try await store.load(key: SecureToken.hash(id), now: Date()))
                    #expect(value == record.binaryEncoded())
                    // The session key expires at the record's expiry; the index no earlier.
                    let sessionAt = try #require(try await Self.get(raw, sessionName, "PEXPIRETIME").int)
                    let indexAt = try #require(try await raw.send(RedisCommand("PEXPIRETIME", prefix + "u:alice")).int)
                    #expect(sessionAt == RedisSessionStore.milliseconds(record.expiresAt))
                    #expect(indexAt >= sessionAt)
                    let member = try #require(RedisSessionStore.keyBytes(record.key))
                    let score = try await raw.send(RedisCommand(bytes: [Array("ZSCORE".utf8), Array((prefix + "u:alice").utf8), member]))
                    #expect(score.string.flatMap { Double($0) }.map { Int64($0) } == sessionAt)
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
                    let index = Array((config.keyPrefix + "u:bob").utf8)
                    let session = try Self.sessionKey(config.keyPrefix, record.key)
                    for key in [index, session] {
                        let at = try await Self.get(raw, key, "PEXPIRETIME").int
                        #expect(at == RedisSessionStore.milliseconds(record.expiresAt), "\(key)")
                    }
                    // Generous margins: a loaded CI machine may take seconds between these steps.
                    try await Task.sleep(until: .now + .seconds(now.addingTimeInterval(6.5).timeIntervalSinceNow))
                    let left = try await raw.send(RedisCommand(bytes: [Array("EXISTS".utf8), index, session])).int
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
                    for key in [try Self.sessionKey(config.keyPrefix, record.key), Array((config.keyPrefix + "u:carol").utf8)] {
                        let ttl = try #require(try await Self.get(raw, key, "PTTL").int)
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
                    SessionRecord(
                        key: SecureToken.hash("k1"),
                        handle: "h1",
                        createdAt: t0,
                        lastSeen: t0,
                        idleExpiresAt: t0 + 10,
                        absoluteExpiresAt: t0 + 10
                    )
                )
            }
            try await withStore(globby) { store in
                try await store.insert(
                    SessionRecord(
                        key: SecureToken.hash("k2"),
                        handle: "h2",
                        createdAt: t0,
                        lastSeen: t0,
                        idleExpiresAt: t0 + 10,
                        absoluteExpiresAt: t0 + 10
                    )
                )
                #expect(try await store.list(now: t0, afterKey: nil, limit: 10).map(\.key) == [SecureToken.hash("k2")])
                #expect(try await store.deleteExpired(now: t0 + 20, limit: 10) == 1)
            }
            try await withStore(other) { store in
                let keys = try await store.list(now: t0, afterKey: nil, limit: 10).map(\.key)
                #expect(keys == [SecureToken.hash("k1")])
            }
        }
    }

    @Test("a user index left by the earlier layout (hex members naming hashes) breaks neither listing nor signing out everywhere")
    func earlierLayoutIndexMembers() async throws {
        try await RedisTestServer.with { server in
            let config = configuration(server)
            let t0 = Date()
            let legacy = SecureToken.hash("legacy session")
            let index = config.keyPrefix + "u:alice"
            try await withRawClient(config) { raw in
                _ = try await raw.send(RedisCommand("HSET", config.keyPrefix + "s:" + legacy, "json", "{}", "user", "alice"))
                let score = String(RedisSessionStore.milliseconds(t0.addingTimeInterval(3600)))
                _ = try await raw.send(RedisCommand("ZADD", index, score, legacy))
            }
            try await withStore(config) { store in
                let key = SecureToken.hash("current session")
                let record = SessionRecord(
                    key: key,
                    handle: "h",
                    userID: "alice",
                    createdAt: t0,
                    lastSeen: t0,
                    idleExpiresAt: t0 + 1800,
                    absoluteExpiresAt: t0 + 3600
                )
                try await store.insert(record)
                #expect(try await store.records(forUser: "alice", now: t0).map(\.key) == [key])
                try await withRawClient(config) { raw in
                    #expect(try await raw.send(RedisCommand("ZSCORE", index, legacy)).string == nil, "the old member was pruned")
                    _ = try await raw.send(RedisCommand("ZADD", index, "99999999999999", legacy))
                }
                #expect(try await store.deleteAll(forUser: "alice", exceptKey: nil) == 1)
                #expect(try await store.load(key: key, now: t0) == nil)
                #expect(try await store.records(forUser: "alice", now: t0).isEmpty)
            }
        }
    }

    @Test("foreign keys under the prefix (another shape, another type, a short value) do not break sweeps or listings")
    func foreignKey() async throws {
        try await RedisTestServer.with { server in
            let config = configuration(server)
            let t0 = Date()
            let garbled = try Self.sessionKey(config.keyPrefix, SecureToken.hash("garbled"))
            let hashed = try Self.sessionKey(config.keyPrefix, SecureToken.hash("a hash"))
            try await withRawClient(config) { raw in
                _ = try await raw.send(RedisCommand("SET", config.keyPrefix + "s:zzz", "not a session"))
                // The layout of earlier builds: JSON in a hash under the 64 hex digits.
                _ = try await raw.send(RedisCommand("HSET", config.keyPrefix + "s:" + SecureToken.hash("legacy"), "json", "{}"))
                _ = try await raw.send(RedisCommand(bytes: [Array("SET".utf8), garbled, Array("not a session".utf8)]))
                _ = try await raw.send(RedisCommand(bytes: [Array("HSET".utf8), hashed, Array("json".utf8), Array("{}".utf8)]))
            }
            try await withStore(config) { store in
                let key = SecureToken.hash("k1")
                try await store.insert(
                    SessionRecord(key: key, handle: "h1", createdAt: t0, lastSeen: t0, idleExpiresAt: t0 + 10, absoluteExpiresAt: t0 + 10)
                )
                #expect(try await store.list(now: t0, afterKey: nil, limit: 10).map(\.key) == [key])
                #expect(try await store.deleteExpired(now: t0 + 20, limit: 10) == 1)
                #expect(try await store.list(now: t0, afterKey: nil, limit: 10).isEmpty)
                // Loading one is a backend failure, not a crash; a key that is no hex digest finds nothing.
                for name in ["garbled", "a hash"] {
                    let error = await #expect(throws: StoreError.self) { _ = try await store.load(key: SecureToken.hash(name), now: t0) }
                    #expect(error?.isUnavailable == true)
                }
                #expect(try await store.load(key: "zzz", now: t0) == nil)
                #expect(try await store.load(key: SecureToken.hash("legacy"), now: t0) == nil)
                let refused = await #expect(throws: StoreError.self) {
                    try await store.insert(
                        SessionRecord(key: "zzz", handle: "h", createdAt: t0, lastSeen: t0, idleExpiresAt: t0 + 10, absoluteExpiresAt: t0 + 10)
                    )
                }
                #expect(refused?.isUnavailable == true)
            }
        }
    }
}

import CloakroomCore
import CloakroomRedis
import CloakroomSessions
import CloakroomTesting
import Crypto
import Foundation
import Testing

/// `redis-sentinel://` (issue 12): the primary found through a real Sentinel, confirmed with
/// `ROLE`, and followed across a real failover (the primary's process killed).
@Suite("Redis Sentinel")
struct RedisSentinelTests {
    @Test("redis-sentinel:// URLs: several Sentinels, default port 26379, service and database; bad ones refused")
    func urls() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://:s3cret@10.0.0.1:26380,sentinel-b,[::1]:26381/mymaster/2")
        #expect(configuration.sentinel?.service == "mymaster")
        #expect(configuration.sentinel?.addresses.map(\.port) == [26380, 26379, 26381])
        #expect(configuration.sentinel?.addresses.map(\.host) == ["10.0.0.1", "sentinel-b", "::1"])
        #expect(configuration.password == "s3cret")
        #expect(configuration.database == 2)
        #expect(configuration.description == "redis-sentinel://:***@10.0.0.1:26380,sentinel-b:26379,[::1]:26381/mymaster/2")
        #expect(try StoreLocation(parsing: "redis-sentinel://127.0.0.1:26379/svc") == .redis(url: "redis-sentinel://127.0.0.1:26379/svc"))
        for bad in [
            "redis-sentinel://127.0.0.1:26379", "redis-sentinel://127.0.0.1:26379/", "redis-sentinel://:99999/svc",
            "redis-sentinel://h:1/svc/x", "redis-sentinel://,/svc", "redis-sentinel://user@h:1/svc",
        ] {
            #expect(throws: RedisConfiguration.ParseError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
    }

    @Test("the session conformance suite passes on a Sentinel-managed primary")
    func conformance() async throws {
        try await RedisSentinelTestSetup.with { setup in
            // Each check under its own prefix, as on standalone Redis: the checks reuse user IDs.
            for check in SessionStoreConformance.checkNames {
                var configuration = try RedisConfiguration(url: setup.url)
                configuration.keyPrefix = uniquePrefix("sentinel")
                try await withStore(configuration) { store in
                    try await SessionStoreConformance.run(only: [check]) { store }
                }
            }
        }
    }

    @Test("the token-store conformance suite passes on a Sentinel-managed primary")
    func tokenConformance() async throws {
        try await RedisSentinelTestSetup.with { setup in
            for check in TokenStoreConformance.checkNames {
                var configuration = try RedisConfiguration(url: setup.url)
                configuration.keyPrefix = uniquePrefix("sentinel-tokens")
                try await withStore(configuration) { sessions in
                    try await TokenStoreConformance.run(only: [check]) { RedisTokenStore(database: sessions.database) }
                }
            }
        }
    }

    @Test("the primary's process killed: Sentinel promotes the replica and the store follows it; with ?wait=1 no session written before is lost")
    func failover() async throws {
        try await RedisSentinelTestSetup.with { setup in
            var plain = try RedisConfiguration(url: setup.url)
            plain.keyPrefix = uniquePrefix("failover")
            plain.maxReconnectDelay = .milliseconds(200)
            var durable = try RedisConfiguration(url: setup.url + "?wait=1")
            #expect(durable.replicaAcknowledgements == 1)
            durable.keyPrefix = plain.keyPrefix
            durable.maxReconnectDelay = .milliseconds(200)
            durable.replicaTimeout = .seconds(5)  // generous: a loaded CI machine
            try await withStore(plain) { store in
                try await withStore(durable) { durableStore in
                    let now = Date()
                    var acknowledged: [String] = []
                    var replicated: [String] = []
                    for index in 0..<40 {
                        let record = Self.record(index, now: now)
                        if index % 2 == 0 {
                            try await store.insert(record)
                            acknowledged.append(record.key)
                        } else {
                            try await durableStore.insert(record)
                            replicated.append(record.key)
                        }
                    }
                    await setup.primary.stop()
                    let killed = ContinuousClock.now
                    var failures = 0
                    var recovered: Duration?
                    while ContinuousClock.now - killed < .seconds(30) {
                        do {
                            try await store.insert(Self.record(1000 + failures, now: now))
                            recovered = ContinuousClock.now - killed
                            break
                        } catch let error as StoreError {
                            #expect(error.isUnavailable, "failures during a failover are 'unavailable' (503), never anything else: \(error)")
                            failures += 1
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                    let took = try #require(recovered, "the store did not follow the failover within 30 s")
                    var lost = 0
                    for key in acknowledged where try await store.load(key: key, now: now) == nil { lost += 1 }
                    for key in replicated {
                        #expect(try await store.load(key: key, now: now) != nil, "a session written with ?wait=1 was lost")
                    }
                    print(
                        "sentinel failover: writes resumed \(took) after the primary was killed (\(failures) refused meanwhile); lost without WAIT: \(lost) of \(acknowledged.count), with ?wait=1: 0 of \(replicated.count)"
                    )
                }
            }
        }
    }

    static func record(_ index: Int, now: Date) -> SessionRecord {
        let key = SHA256.hash(data: Data("sentinel-\(index)-\(UUID())".utf8)).map { String(format: "%02x", $0) }.joined()
        return SessionRecord(
            key: key,
            handle: "h\(index)",
            userID: "user\(index % 3)",
            createdAt: now,
            lastSeen: now,
            idleExpiresAt: now.addingTimeInterval(600),
            absoluteExpiresAt: now.addingTimeInterval(3600)
        )
    }
}

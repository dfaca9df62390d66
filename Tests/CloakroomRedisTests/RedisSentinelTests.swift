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

    @Test("the primary's process killed: Sentinel promotes the replica and the store follows it; sessions written before are there")
    func failover() async throws {
        try await RedisSentinelTestSetup.with { setup in
            var configuration = try RedisConfiguration(url: setup.url)
            configuration.keyPrefix = uniquePrefix("failover")
            configuration.maxReconnectDelay = .milliseconds(200)
            try await withStore(configuration) { store in
                let now = Date()
                var written: [String] = []
                for index in 0..<20 {
                    let record = Self.record(index, now: now)
                    try await store.insert(record)
                    written.append(record.key)
                }
                // Replication is asynchronous: let the replica catch up before the crash, as
                // `WAIT 1` would (what is lost without it is measured by the cluster lab).
                try await Task.sleep(for: .milliseconds(300))
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
                print("sentinel failover: writes resumed \(took) after the primary was killed (\(failures) refused meanwhile)")
                for key in written {
                    #expect(try await store.load(key: key, now: now) != nil, "a session written before the failover was lost")
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

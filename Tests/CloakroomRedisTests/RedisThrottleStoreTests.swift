import CloakroomIdentity
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomRedis

/// `RedisThrottleStore` answers exactly like `MemoryThrottleStore` for the same calls.
@Suite("Redis throttle store")
struct RedisThrottleStoreTests {
    enum Step {
        case fail(String)
        case state(String)
        case reset(String)
        case advance(TimeInterval)
    }

    static let window: TimeInterval = 900
    static let script: [Step] = [
        .state("account:alice"), .fail("account:alice"), .fail("account:alice"), .state("account:alice"),
        .fail("ip:10.0.0.1"), .advance(899), .fail("account:alice"), .state("account:alice"),
        .advance(899.5), .state("account:alice"), .state("ip:10.0.0.1"), .advance(0.5), .state("account:alice"),
        .fail("account:alice"), .state("account:alice"), .reset("account:alice"), .state("account:alice"),
        .fail("account:alice"), .advance(1.25), .fail("account:alice"), .state("account:alice"), .reset("nobody"),
    ]

    func run(_ store: any ThrottleStore) async throws -> [ThrottleState?] {
        let clock = ManualClock()
        var out: [ThrottleState?] = []
        for step in Self.script {
            switch step {
            case .fail(let key): out.append(try await store.recordFailure(key: key, now: clock.now(), window: Self.window))
            case .state(let key): out.append(try await store.state(key: key, now: clock.now(), window: Self.window))
            case .reset(let key): try await store.reset(key: key)
            case .advance(let seconds): clock.advance(by: seconds)
            }
        }
        return out
    }

    @Test("same answers as MemoryThrottleStore: counts, window reset, reset")
    func matchesMemory() async throws {
        try await RedisTestServer.with { server in
            let config = configuration(server)
            let expected = try await run(MemoryThrottleStore())
            let redis = RedisThrottleStore(configuration: config)
            let actual = try await run(redis)
            await redis.shutdown()
            #expect(actual == expected)
            #expect(expected.compactMap { $0?.failures } == [1, 2, 2, 1, 3, 3, 3, 1, 1, 1, 2, 2])
        }
    }

    @Test("concurrent failures are all counted; the counter has a TTL of the window; shares a session store's pool")
    func concurrentAndTTL() async throws {
        try await RedisTestServer.with { server in
            let config = configuration(server)
            try await withStore(config) { sessions in
                let throttle = RedisThrottleStore(database: sessions.database)
                // Whole milliseconds: the store keeps times at millisecond precision.
                let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<50 {
                        group.addTask { _ = try await throttle.recordFailure(key: "ip:1.2.3.4", now: now, window: 60) }
                    }
                    try await group.waitForAll()
                }
                #expect(try await throttle.state(key: "ip:1.2.3.4", now: now, window: 60)?.failures == 50)
                #expect(try await throttle.state(key: "ip:1.2.3.4", now: now.addingTimeInterval(60), window: 60) == nil)
                try await withRawClient(config) { raw in
                    let ttl = try await raw.send(.init("PTTL", config.keyPrefix + "t:ip:1.2.3.4")).int ?? -1
                    #expect(ttl > 55_000 && ttl <= 60_000)
                }
            }
        }
    }
}

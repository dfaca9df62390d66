@testable import CloakroomRedis
import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import Synchronization
import Testing

@Test func zzBench() async throws {
    try await RedisTestServer.with { server in
        var config = configuration(server)
        config.commandTimeout = .seconds(30)
        let clock = ContinuousClock()
        let now = Date()
        try await withStore(config) { store in
            for i in 0..<100 {
                try await store.insert(SessionRecord(key: SecureToken.hash("b\(i)"), handle: "h", userID: "u\(i % 10)", createdAt: now, lastSeen: now, idleExpiresAt: now + 1800, absoluteExpiresAt: now + 43200))
            }
            var t = clock.now
            for i in 0..<2000 { _ = try await store.load(key: SecureToken.hash("b\(i % 100)"), now: now) }
            print("sequential load x2000", clock.now - t)
            t = clock.now
            try await withThrowingTaskGroup(of: Void.self) { g in
                for i in 0..<20000 { g.addTask { _ = try await store.load(key: SecureToken.hash("b\(i % 100)"), now: now) } }
                try await g.waitForAll()
            }
            print("concurrent load x20000", clock.now - t)
            t = clock.now
            try await withThrowingTaskGroup(of: Void.self) { g in
                for i in 0..<5000 { g.addTask { try await store.touch(key: SecureToken.hash("b\(i % 100)"), lastSeen: now, idleExpiresAt: now + 1800) } }
                try await g.waitForAll()
            }
            print("concurrent touch (EVALSHA) x5000", clock.now - t)
            print("connections", await store.client.pool.connectionCount)
        }
        // Overload with the default 2 s timeout: excess requests are shed, connections survive.
        config.commandTimeout = .seconds(2)
        try await withStore(config) { store in
            let t = clock.now
            let failed = await withTaskGroup(of: Bool.self) { g in
                for i in 0..<40000 { g.addTask { (try? await store.load(key: SecureToken.hash("b\(i % 100)"), now: now)) == nil } }
                var n = 0
                for await f in g where f { n += 1 }
                return n
            }
            print("overload 40000 loads, 2 s timeout: failed", failed, "in", clock.now - t)
            try await store.ping()
        }
        try await withStore(config) { store in
            try await store.ping()
            await server.stop()
            var t = clock.now
            _ = try? await store.ping()
            print("fail while down", clock.now - t)
            // Keep calling so the backoff reaches its cap.
            t = clock.now
            var failures = 0
            while clock.now - t < .seconds(3) { if (try? await store.ping()) == nil { failures += 1 }; try await Task.sleep(for: .milliseconds(10)) }
            print("calls during 3 s outage", failures)
            try await server.start()
            t = clock.now
            while (try? await store.ping()) == nil { try await Task.sleep(for: .milliseconds(5)) }
            print("recovery after restart (backoff at cap)", clock.now - t)
            server.pause()
            t = clock.now
            _ = try? await store.ping()
            print("timeout while frozen", clock.now - t)
            server.resume()
        }
    }
}

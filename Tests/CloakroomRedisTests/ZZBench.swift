@testable import CloakroomRedis
import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

@Test func zzBench() async throws {
    try await RedisTestServer.with { server in
        let config = configuration(server)
        try await withStore(config) { store in
            let clock = ContinuousClock()
            let now = Date()
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
            await server.stop()
            t = clock.now
            _ = try? await store.ping()
            print("fail while down", clock.now - t)
            try await Task.sleep(for: .milliseconds(1500))   // let backoff reach its cap
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

import CloakroomRedis
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

/// `RedisSessionStore` runs the same conformance suite as the memory and SQLite stores, against a
/// real redis-server.
@Suite("Redis SessionStore conformance")
struct RedisConformanceTests {
    @Test("RedisSessionStore", arguments: SessionStoreConformance.checkNames)
    func conformance(_ check: String) async throws {
        try await RedisTestServer.with { server in
            try await withStore(configuration(server, prefix: uniquePrefix("conformance"))) { store in
                try await SessionStoreConformance.run(only: [check]) { store }
            }
        }
    }

    @Test("every check at once on one server, each under its own prefix")
    func sharedServer() async throws {
        try await RedisTestServer.with { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for check in SessionStoreConformance.checkNames {
                    group.addTask {
                        try await withStore(configuration(server, prefix: uniquePrefix("shared"))) { store in
                            try await SessionStoreConformance.run(only: [check]) { store }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}

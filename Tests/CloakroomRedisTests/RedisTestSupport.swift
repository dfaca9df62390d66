import CloakroomSessions
import CloakroomTesting
import Foundation
import Logging
import NIOPosix
import Synchronization

@testable import CloakroomRedis

/// A key prefix no other test uses.
func uniquePrefix(_ label: String = "test") -> String {
    "\(label)-\(UUID().uuidString.prefix(8)):"
}

/// A configuration for `server` with a unique prefix unless one is given.
func configuration(_ server: RedisTestServer, prefix: String? = nil) -> RedisConfiguration {
    RedisConfiguration(port: server.port, password: server.password, keyPrefix: prefix ?? uniquePrefix())
}

/// Runs `body` with a store and always closes its connections.
func withStore<T>(
    _ configuration: RedisConfiguration,
    logger: Logger = Logger(label: "test"),
    _ body: (RedisSessionStore) async throws -> T
) async throws -> T {
    let store = RedisSessionStore(configuration: configuration, logger: logger)
    do {
        let value = try await body(store)
        await store.shutdown()
        return value
    } catch {
        await store.shutdown()
        throw error
    }
}

/// Runs `body` with a raw client (for inspecting keys) and always closes it.
func withRawClient<T>(_ configuration: RedisConfiguration, _ body: (RedisClient) async throws -> T) async throws -> T {
    let client = RedisClient(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
    do {
        let value = try await body(client)
        await client.shutdown()
        return value
    } catch {
        await client.shutdown()
        throw error
    }
}

extension RedisClient {
    /// Every key on the server (tests only: `KEYS` is never used by the stores).
    func allKeys() async throws -> [String] {
        try await send(RedisCommand("KEYS", "*")).array?.compactMap(\.string) ?? []
    }
}

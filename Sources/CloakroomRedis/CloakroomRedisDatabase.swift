public import Logging
public import NIOCore
public import NIOPosix

/// One Redis server as Cloakroom uses it: the connection pool (and loaded scripts) that every
/// Redis store — sessions, token state, throttle counters — shares, as `CloakroomSQLiteDatabase`
/// and `CloakroomPostgresDatabase` are for their backends.
///
/// Connections open on first use and reconnect by themselves; call ``shutdown()`` once, when every
/// store built on it is done. Errors from the stores are `StoreError.unavailable`, with no key,
/// value or password in their messages.
public final class CloakroomRedisDatabase: Sendable {
    let client: RedisClient

    /// Creates the pool for `configuration`; nothing connects until the first command.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "cloakroom.redis")
    ) {
        self.client = RedisClient(configuration: configuration, group: eventLoopGroup, logger: logger)
    }

    /// The configuration in use.
    public var configuration: RedisConfiguration { client.configuration }

    /// Closes every connection; later commands of every store sharing it fail.
    public func shutdown() async {
        await client.shutdown()
    }
}

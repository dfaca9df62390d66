import CloakroomCore
import Logging
import NIOCore

/// Finding the primary through Redis Sentinel (`redis-sentinel://` URLs).
///
/// Every new connection asks the Sentinels, in order, for the service's primary
/// (`SENTINEL get-master-addr-by-name`), connects there and confirms with `ROLE` that it is a
/// primary, so reads go to the primary and a session is readable right after it is written.
/// Connections are reopened when they fail (the old primary died) or when a reply says
/// `READONLY` (the old primary came back as a replica), and the Sentinels are asked again: after a
/// failover, service resumes once Sentinel has promoted a replica and the pool's reconnect back-off
/// (at most `maxReconnectDelay`) has passed.
enum RedisSentinel {
    /// The primary's address as the first Sentinel that knows names it.
    static func resolve(_ configuration: RedisConfiguration, group: any EventLoopGroup) async throws -> RedisConfiguration {
        guard let sentinel = configuration.sentinel else { return configuration }
        var problem = "no sentinel could be reached"
        for address in sentinel.addresses {
            // Sentinels are asked without the data nodes' credentials, on database 0, in plain TCP.
            var asking = RedisConfiguration(host: address.host, port: address.port)
            asking.connectTimeout = configuration.connectTimeout
            asking.commandTimeout = configuration.commandTimeout
            guard case .connected(let connection) = await RedisConnection.open(configuration: asking, group: group) else { continue }
            defer { connection.close() }
            guard let reply = try? await connection.send([RedisCommand("SENTINEL", "get-master-addr-by-name", sentinel.service)]).first else {
                problem = "a sentinel did not answer"
                continue
            }
            guard let items = reply.array, items.count == 2, let host = items[0].string, let port = items[1].string.flatMap({ Int($0) }) else {
                problem = reply.errorCode.map { "a sentinel refused (\($0))" } ?? "no sentinel knows the service \(sentinel.service)"
                continue
            }
            var target = configuration
            target.host = host
            target.port = port
            return target
        }
        throw StoreError.unavailable("redis sentinel: \(problem)")
    }

    /// Throws unless the server behind `connection` is a primary (during a failover a Sentinel may
    /// still name the old one, now a replica).
    /// A server that refuses `ROLE` (an ACL user without `@dangerous` gets `NOPERM`) cannot be
    /// checked this way: it is used, and a write it refuses with `READONLY` sends the next
    /// connection back to the Sentinels.
    static func confirmPrimary(_ connection: RedisConnection) async throws {
        let reply = try? await connection.send([RedisCommand("ROLE")]).first
        if reply?.errorCode != nil { return }
        guard reply?.array?.first?.string == "master" else {
            connection.close()
            throw StoreError.unavailable("redis sentinel named a server that is not a primary (a failover is under way)")
        }
    }
}

extension RedisSentinel {
    /// Follows `+switch-master`: subscribed on one Sentinel at a time (the next one in turn when it
    /// goes away), it calls `switched` each time a Sentinel announces a new primary for the
    /// configuration's service, so the pool stops using the old one at once, even one that is
    /// cut off rather than dead (whose connections would otherwise hang until they time out).
    /// Runs until cancelled.
    static func watch(
        _ configuration: RedisConfiguration,
        group: any EventLoopGroup,
        logger: Logger,
        switched: @escaping @Sendable (String) async -> Void
    ) -> Task<Void, Never>? {
        guard let sentinel = configuration.sentinel, !sentinel.addresses.isEmpty else { return nil }
        return Task {
            var turn = 0
            while !Task.isCancelled {
                let address = sentinel.addresses[turn % sentinel.addresses.count]
                turn += 1
                var asking = RedisConfiguration(host: address.host, port: address.port)
                asking.connectTimeout = configuration.connectTimeout
                asking.commandTimeout = configuration.commandTimeout
                let (messages, feed) = AsyncStream<RESPValue>.makeStream()
                guard case .connected(let connection) = await open(asking, group: group, feed: feed) else {
                    try? await Task.sleep(for: .milliseconds(500))
                    continue
                }
                connection.closed.whenComplete { _ in feed.finish() }
                await withTaskCancellationHandler {
                    guard let reply = try? await connection.send([RedisCommand("SUBSCRIBE", "+switch-master")]).first,
                        reply.array?.first?.string == "subscribe"
                    else {
                        connection.close()
                        return
                    }
                    for await message in messages {
                        // ["message", "+switch-master", "<service> <old ip> <old port> <new ip> <new port>"]
                        guard let parts = message.array, parts.count == 3, parts[0].string == "message", let text = parts[2].string else { continue }
                        let fields = text.split(separator: " ")
                        guard fields.count == 5, fields[0] == sentinel.service else { continue }
                        let primary = "\(fields[3]):\(fields[4])"
                        logger.info("redis sentinel: new primary", metadata: ["service": "\(sentinel.service)", "primary": "\(primary)"])
                        await switched(primary)
                    }
                } onCancel: {
                    connection.close()
                }
                if !Task.isCancelled { try? await Task.sleep(for: .milliseconds(200)) }
            }
        }
    }

    private static func open(
        _ configuration: RedisConfiguration,
        group: any EventLoopGroup,
        feed: AsyncStream<RESPValue>.Continuation
    ) async -> RedisConnection.OpenOutcome {
        await RedisConnection.open(configuration: configuration, group: group) { feed.yield($0) }
    }
}

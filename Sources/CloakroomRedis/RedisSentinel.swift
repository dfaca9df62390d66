import CloakroomCore
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

public import NIOCore
public import NIOPosix

/// A one-off check of a Redis URL before a server starts on it: connect, `AUTH`, `SELECT`, `PING`.
public enum RedisProbe {
    /// What the check found.
    public enum Outcome: Sendable, Equatable {
        /// Redis answered `PING` on the configured database with the configured credentials.
        case ready
        /// Redis could not be reached (refused, timed out): it may come up later; the server's
        /// pool keeps retrying.
        case unreachable(String)
        /// Redis answered but refused the configuration (wrong password, unknown database,
        /// authentication required): retrying will not help.
        case refused(String)
    }

    /// Checks `configuration`; never throws, and no secret appears in a message.
    public static func check(_ configuration: RedisConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async -> Outcome
    {
        if let seeds = configuration.clusterSeeds, seeds.count > 1 {
            // A cluster: the first seed that answers decides; all unreachable is unreachable.
            var outcome = Outcome.unreachable("no redis cluster node answered")
            for seed in seeds {
                var one = configuration
                one.clusterSeeds = [seed]
                one.host = seed.host
                one.port = seed.port
                outcome = await check(one, group: group)
                if case .unreachable = outcome { continue }
                return outcome
            }
            return outcome
        }
        let connection: RedisConnection
        let target: RedisConfiguration
        do {
            target = try await RedisSentinel.resolve(configuration, group: group)
        } catch {
            return .unreachable("\(error)")
        }
        switch await RedisConnection.open(configuration: target, group: group) {
        case .connected(let opened): connection = opened
        case .unreachable(let reason): return .unreachable(reason)
        case .refused(let reason): return .refused(reason)
        }
        defer { connection.close() }
        do {
            let reply = try await connection.send([RedisCommand("PING")])
            if let code = reply.first?.errorCode {
                return .refused(code == "NOAUTH" ? "redis requires authentication: put the password in the URL" : "redis refused PING (\(code))")
            }
            return .ready
        } catch {
            return .unreachable("redis did not answer PING")
        }
    }
}

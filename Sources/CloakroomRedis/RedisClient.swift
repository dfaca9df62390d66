import CloakroomCore
import CloakroomSessions
import Logging
import NIOCore
import Synchronization

/// The small RESP2 client the Redis stores share: a connection pool plus script loading.
///
/// Every failure surfaces as `StoreError.unavailable` with a message free of keys, values
/// and secrets (error replies are reduced to their code, such as `WRONGTYPE`).
final class RedisClient: Sendable {
    let configuration: RedisConfiguration
    let pool: RedisConnectionPool
    /// SHA1 of each loaded script, by script name, as `SCRIPT LOAD` reported it.
    private let loadedScripts = Mutex<[String: String]>([:])

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.pool = RedisConnectionPool(configuration: configuration, group: group, logger: logger)
    }

    /// Sends one command; an error reply throws `unavailable`.
    func send(_ command: RedisCommand) async throws -> RESPValue {
        let replies = try await pool.send([command])
        guard let reply = replies.first else { throw StoreError.unavailable("redis sent no reply") }
        return try Self.checked(reply, command.name)
    }

    /// Sends the commands as one pipeline; an error reply in any position throws `unavailable`.
    func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        let replies = try await pool.send(commands)
        guard replies.count == commands.count else { throw StoreError.unavailable("redis sent too few replies") }
        return try zip(replies, commands).map { try Self.checked($0, $1.name) }
    }

    /// Runs `script` with `EVALSHA`, loading it first if needed and again after a `NOSCRIPT` reply
    /// (the server restarted, or someone ran `SCRIPT FLUSH`).
    func run(_ script: RedisScript, keys: [String], arguments: [[UInt8]]) async throws -> RESPValue {
        try await run(script, keys: keys.map { Array($0.utf8) }, arguments: arguments)
    }

    /// `run` with binary key names.
    func run(_ script: RedisScript, keys: [[UInt8]], arguments: [[UInt8]]) async throws -> RESPValue {
        var sha = loadedScripts.withLock { $0[script.name] }
        if sha == nil { sha = try await load(script) }
        for attempt in 0..<2 {
            guard let current = sha else { break }
            let command = RedisCommand(
                bytes: [Array("EVALSHA".utf8), Array(current.utf8), Array(String(keys.count).utf8)]
                    + keys + arguments
            )
            let replies = try await pool.send([command])
            guard let reply = replies.first else { throw StoreError.unavailable("redis sent no reply") }
            if reply.errorCode == "NOSCRIPT" && attempt == 0 {
                sha = try await load(script)
                continue
            }
            if let code = reply.errorCode {
                throw StoreError.unavailable("redis script \(script.name) failed (\(code))")
            }
            return reply
        }
        throw StoreError.unavailable("redis script \(script.name) could not be loaded")
    }

    /// Closes every connection.
    func shutdown() async {
        await pool.shutdown()
    }

    private func load(_ script: RedisScript) async throws -> String {
        let reply = try await send(RedisCommand("SCRIPT", "LOAD", script.source))
        guard let sha = reply.string, !sha.isEmpty else { throw StoreError.unavailable("redis SCRIPT LOAD gave no digest") }
        loadedScripts.withLock { $0[script.name] = sha }
        return sha
    }

    private static func checked(_ reply: RESPValue, _ command: String) throws -> RESPValue {
        if let code = reply.errorCode {
            throw StoreError.unavailable("redis \(command) failed (\(code))")
        }
        return reply
    }
}

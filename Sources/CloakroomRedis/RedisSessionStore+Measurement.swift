/// Figures for the benchmarks (`cloakroom bench stores`), through the store's own connections.
/// `package` access: no shipped library exposes them.
extension RedisSessionStore {
    /// One `SET` and one `GET` of a small value under the store's prefix, pipelined on one
    /// connection: the raw ceiling a store command on this client can reach.
    package func setGetRoundTrip(_ key: String) async throws {
        let name = configuration.keyPrefix + "bench:" + key
        _ = try await client.pipeline([RedisCommand("SET", name, "x"), RedisCommand("GET", name)])
    }

    /// `used_memory` from `INFO memory`, in bytes.
    package func usedMemory() async throws -> Int {
        let reply = try await client.send(RedisCommand("INFO", "memory"))
        guard case .bulkString(let bytes) = reply else { return 0 }
        for line in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline) where line.hasPrefix("used_memory:") {
            return Int(line.dropFirst("used_memory:".count)) ?? 0
        }
        return 0
    }

    /// Removes every key under the store's prefix (benchmarks start empty); uses `SCAN`, never
    /// `KEYS`, on every primary of a cluster, and unlinks each key on its own node.
    package func removeAllKeys() async throws {
        try await client.scan(matching: Self.globEscaped(configuration.keyPrefix) + "*") { names in
            if !names.isEmpty { _ = try await client.raw(names.map { RedisCommand(bytes: [Array("UNLINK".utf8), $0]) }) }
            return true
        }
    }
}

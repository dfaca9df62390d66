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

    /// Removes every key under the store's prefix (benchmarks start empty); uses `SCAN`, never `KEYS`.
    package func removeAllKeys() async throws {
        var cursor = "0"
        repeat {
            let reply = try await client.send(RedisCommand("SCAN", cursor, "MATCH", configuration.keyPrefix + "*", "COUNT", "1000"))
            guard case .array(let parts) = reply, parts.count == 2, case .bulkString(let next) = parts[0], case .array(let keys) = parts[1] else {
                return
            }
            cursor = String(decoding: next, as: UTF8.self)
            let names = keys.compactMap { value -> [UInt8]? in
                if case .bulkString(let bytes) = value { return bytes }
                return nil
            }
            if !names.isEmpty { _ = try await client.send(RedisCommand(bytes: [Array("UNLINK".utf8)] + names)) }
        } while cursor != "0"
    }
}

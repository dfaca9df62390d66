import CloakroomCore
public import CloakroomSessions
public import Foundation
public import Logging
public import NIOCore
public import NIOPosix

/// Sessions in Redis: shared by every node, with server-side expiry.
///
/// Layout (`P` is `RedisConfiguration.keyPrefix`, default `cloakroom:`; keys are the hashed
/// session IDs the store is given, never raw IDs):
/// - `P s:<key>` — a hash: `json` (`SessionRecord.encoded()`), `version`, `user` (absent when
///   anonymous), and integer milliseconds `lastSeen`, `idle`, `abs`, `exp` (= min(idle, abs)).
///   `touch` moves `lastSeen`/`idle`/`exp` only; loads take those two times from the fields.
///   Expires by `PEXPIREAT max(exp, server now + expiryGrace)`.
/// - `P u:<userID>` — a sorted set: member = session key, score = that key's expiry instant.
///   It expires at its highest score; members already expired on the server are pruned when the
///   set is written or read.
///
/// Insert, compare-and-swap update, touch, delete, per-user delete and per-user listing each run as
/// one Lua script (`EVALSHA`), so they are atomic. Expiry is decided by the `now` callers pass:
/// loads filter on `expiresAt > now`; the TTL only frees memory and never fires before `expiresAt`
/// (as read on the Redis clock, so keep clocks in sync).
/// `deleteExpired` and `list` walk the key space with `SCAN` (never `KEYS`): both are O(number of
/// sessions) per call, fine for the sweeper (Redis expires keys by itself) and operator listings.
///
/// Needs standalone Redis 6.2 or later (tested with 7.0; not Cluster: scripts derive key names). Call `shutdown()`
/// when done to close the connections.
public struct RedisSessionStore: CompleteSessionStore {
    let client: RedisClient

    /// The connections this store works on.
    public let database: CloakroomRedisDatabase

    /// Creates a store on `database`'s connections (shared with its other stores).
    public init(database: CloakroomRedisDatabase) {
        self.database = database
        self.client = database.client
    }

    /// Creates a store with connections of its own (open on first use).
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "cloakroom.redis")
    ) {
        self.init(database: CloakroomRedisDatabase(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger))
    }

    /// The configuration in use.
    public var configuration: RedisConfiguration { client.configuration }

    /// Closes the connections (those of every store sharing its database); later calls fail.
    public func shutdown() async {
        await client.shutdown()
    }

    private var prefix: String { client.configuration.keyPrefix }
    private func recordKey(_ key: String) -> String { prefix + "s:" + key }
    private func indexKey(_ userID: String) -> String { prefix + "u:" + userID }
    private var grace: String { String(Self.milliseconds(client.configuration.expiryGrace)) }

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        let reply = try await client.send(RedisCommand("HMGET", recordKey(key), "json", "lastSeen", "idle"))
        guard let fields = reply.array, fields.count == 3, let json = fields[0].bytes else { return nil }
        let record = try Self.decode(json: json, lastSeen: fields[1].string, idle: fields[2].string)
        return record.isExpired(at: now) ? nil : record
    }

    public func insert(_ record: SessionRecord) async throws {
        let json = try Self.encode(record)
        let reply = try await client.run(
            Self.insertScript,
            keys: [recordKey(record.key)],
            arguments: [bytes(prefix), bytes(record.key), json, bytes(String(record.version))]
                + userArguments(record.userID) + timeArguments(record) + [bytes(grace)]
        )
        if reply.int == 0 { throw StoreError.duplicateKey() }
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        let json = try Self.encode(record)
        let reply = try await client.run(
            Self.updateScript,
            keys: [recordKey(record.key)],
            arguments: [bytes(prefix), bytes(record.key), bytes(String(expectedVersion)), json, bytes(String(record.version))]
                + userArguments(record.userID) + timeArguments(record) + [bytes(grace)]
        )
        return reply.int == 1
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        _ = try await client.run(
            Self.touchScript,
            keys: [recordKey(key)],
            arguments: [bytes(prefix), bytes(key), bytes(Self.ms(lastSeen)), bytes(Self.ms(idleExpiresAt)), bytes(grace)]
        )
    }

    public func delete(key: String) async throws {
        _ = try await client.run(Self.deleteScript, keys: [recordKey(key)], arguments: [bytes(prefix), bytes(key)])
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        let reply = try await client.run(
            Self.recordsForUserScript,
            keys: [indexKey(userID)],
            arguments: [bytes(prefix), bytes(userID)]
        )
        guard let values = reply.array, values.count % 3 == 0 else {
            throw StoreError.unavailable("unexpected reply from redis")
        }
        var records: [SessionRecord] = []
        for start in stride(from: 0, to: values.count, by: 3) {
            guard let json = values[start].bytes else { continue }
            let record = try Self.decode(json: json, lastSeen: values[start + 1].string, idle: values[start + 2].string)
            if !record.isExpired(at: now) { records.append(record) }
        }
        return records
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        let reply = try await client.run(
            Self.deleteAllScript,
            keys: [indexKey(userID)],
            arguments: [bytes(prefix), bytes(userID), bytes(exceptKey == nil ? "0" : "1"), bytes(exceptKey ?? "")]
        )
        return Int(reply.int ?? 0)
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        var removed = 0
        var cursor = "0"
        repeat {
            let (next, keys) = try await scan(cursor: cursor)
            cursor = next
            if !keys.isEmpty {
                let reply = try await client.run(
                    Self.deleteExpiredScript,
                    keys: keys.map(recordKey),
                    arguments: [bytes(prefix), bytes(Self.ms(now)), bytes(String(limit - removed))]
                )
                removed += Int(reply.int ?? 0)
            }
        } while cursor != "0" && removed < limit
        return removed
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        guard limit > 0 else { return [] }
        var keys = Set<String>()
        var cursor = "0"
        repeat {
            let (next, batch) = try await scan(cursor: cursor)
            cursor = next
            for key in batch where afterKey.map({ key > $0 }) ?? true { keys.insert(key) }
        } while cursor != "0"
        let ordered = keys.sorted()
        var out: [SessionRecord] = []
        var start = ordered.startIndex
        while start < ordered.endIndex && out.count < limit {
            let end = min(start + max(limit - out.count, 16), ordered.endIndex)
            let chunk = ordered[start..<end]
            // Raw replies: a key of another type under the prefix (an error reply) is skipped.
            let replies = try await client.pool.send(chunk.map { RedisCommand("HMGET", recordKey($0), "json", "lastSeen", "idle") })
            for reply in replies where out.count < limit {
                guard let fields = reply.array, fields.count == 3, let json = fields[0].bytes else { continue }
                let record = try Self.decode(json: json, lastSeen: fields[1].string, idle: fields[2].string)
                if !record.isExpired(at: now) { out.append(record) }
            }
            start = end
        }
        return out
    }

    public func ping() async throws {
        let reply = try await client.send(RedisCommand("PING"))
        guard reply.string == "PONG" else { throw StoreError.unavailable("redis did not answer PING") }
    }

    // MARK: - Helpers

    /// One `SCAN` step over `P s:*`: the next cursor and the session keys (prefix removed).
    private func scan(cursor: String) async throws -> (String, [String]) {
        let pattern = Self.globEscaped(prefix + "s:") + "*"
        let reply = try await client.send(RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", "500"))
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let names = parts[1].array else {
            throw StoreError.unavailable("unexpected SCAN reply from redis")
        }
        let skip = (prefix + "s:").utf8.count
        let keys = names.compactMap { name -> String? in
            guard let bytes = name.bytes, bytes.count > skip else { return nil }
            return String(decoding: bytes.dropFirst(skip), as: UTF8.self)
        }
        return (next, keys)
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    private func userArguments(_ userID: String?) -> [[UInt8]] {
        [bytes(userID == nil ? "0" : "1"), bytes(userID ?? "")]
    }

    private func timeArguments(_ record: SessionRecord) -> [[UInt8]] {
        [bytes(Self.ms(record.lastSeen)), bytes(Self.ms(record.idleExpiresAt)), bytes(Self.ms(record.absoluteExpiresAt))]
    }

    /// Integer milliseconds since 1970, as text.
    static func ms(_ date: Date) -> String {
        String(milliseconds(date))
    }

    static func milliseconds(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        // Clamp so absurd dates cannot trap; both bounds are far outside any real session.
        return Int64(min(max(value, -9e15), 9e15))
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    private static func encode(_ record: SessionRecord) throws -> [UInt8] {
        do {
            return try record.encoded()
        } catch {
            throw StoreError.unavailable("session record could not be encoded")
        }
    }

    /// Decodes the stored JSON, taking `lastSeen` and `idleExpiresAt` from the hash fields when
    /// `touch` has moved them.
    static func decode(json: [UInt8], lastSeen: String?, idle: String?) throws -> SessionRecord {
        var record: SessionRecord
        do {
            record = try SessionRecord.decode(json)
        } catch {
            throw StoreError.unavailable("malformed session record in redis")
        }
        if let lastSeen = lastSeen.flatMap({ Int64($0) }), lastSeen != milliseconds(record.lastSeen) {
            record.lastSeen = Date(timeIntervalSince1970: Double(lastSeen) / 1000)
        }
        if let idle = idle.flatMap({ Int64($0) }), idle != milliseconds(record.idleExpiresAt) {
            record.idleExpiresAt = Date(timeIntervalSince1970: Double(idle) / 1000)
        }
        return record
    }

    /// Escapes glob metacharacters so a prefix matches only itself in `SCAN MATCH`.
    static func globEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }
}

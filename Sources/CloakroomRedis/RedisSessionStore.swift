public import CloakroomCore
public import CloakroomSessions
public import Foundation
public import Logging
public import NIOCore
public import NIOPosix

/// Sessions in Redis: shared by every node, with server-side expiry.
///
/// Layout (`P` is `RedisConfiguration.keyPrefix`, default `cloakroom:`; keys are the hashed
/// session IDs the store is given, never raw IDs, held as their 32 bytes rather than 64 hex digits):
/// - `P s:<32-byte key>` — a string: the record's compact binary form (`SessionRecord.binaryEncoded`:
///   version, then the times as little-endian integer milliseconds at fixed offsets, then
///   length-prefixed strings). `touch` rewrites `lastSeen` and the idle expiry in place
///   (`SETRANGE`); the scripts read the version, times and user from the bytes (Lua `struct`).
///   Expires by `PXAT max(min(idle, abs), server now + expiryGrace)`.
/// - `P u:<userID>` — a sorted set: member = a session's 32-byte key, score = that key's expiry
///   instant. It expires at its highest score; members already expired on the server are pruned
///   when the set is written or read.
///
/// That is 398 bytes of Redis memory per session at a million (`cloakroom bench stores`),
/// against 1,097 for the earlier layout (JSON in a hash, hex keys), whose keys this store no longer
/// reads: sessions written by a build before it end at the upgrade (their keys expire on their own).
///
/// Keys must be SHA-256 hex digests (what `SessionManager` gives): inserting another key fails,
/// and loading one finds nothing. Insert, compare-and-swap update, touch, delete, per-user delete
/// and per-user listing each run as one Lua script (`EVALSHA`), so they are atomic. Expiry is
/// decided by the `now` callers pass: loads filter on `expiresAt > now`; the TTL only frees memory
/// and never fires before `expiresAt` (as read on the Redis clock, so keep clocks in sync).
/// `deleteExpired` and `list` walk the key space with `SCAN` (never `KEYS`): both are O(number of
/// sessions) per call, fine for the sweeper (Redis expires keys by itself) and operator listings.
///
/// Needs standalone Redis 6.2 or later (tested with 7.0; not Cluster: scripts derive key names). Call `shutdown()`
/// when done to close the connections.
public struct RedisSessionStore: CompleteSessionStore, KeyTaggedStore {
    let client: RedisClient
    /// Standalone: every record key's prefix (`Ps:`), built once rather than on each request.
    private let standaloneRecordPrefix: [UInt8]?

    /// The connections this store works on.
    public let database: CloakroomRedisDatabase

    /// Creates a store on `database`'s connections (shared with its other stores).
    public init(database: CloakroomRedisDatabase) {
        self.database = database
        self.client = database.client
        self.standaloneRecordPrefix = database.client.cluster == nil ? Array((database.client.configuration.keyPrefix + "s:").utf8) : nil
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

    /// On a cluster, keys of one user share a slot and signed-in sessions' keys must carry the
    /// user's tag (`SessionManager` makes them so); standalone Redis takes any key.
    public var requiresKeyTags: Bool { client.cluster != nil }

    /// The tag a record key carries (its first two bytes), which names its slot on a cluster.
    private func tag(of key: [UInt8]) -> KeyTag? { KeyTag(hex: Hex.encode(key.prefix(2))) }
    /// The prefix of the record's slot (`P` standalone, `P{tag}` on a cluster).
    private func prefix(of key: [UInt8]) throws -> String { try client.prefix(tag: tag(of: key)) }
    private func recordKey(_ key: [UInt8]) throws -> [UInt8] {
        if let standaloneRecordPrefix { return standaloneRecordPrefix + key }
        return Array((try prefix(of: key) + "s:").utf8) + key
    }
    private func indexPrefix(_ userID: String) throws -> String { try client.prefix(tag: KeyTag(user: userID)) }

    /// On a cluster, refuses a signed-in record whose key is not tagged for its user: its index
    /// would be in another slot, so no script could keep the two in step.
    private func checkPlacement(_ key: [UInt8], userID: String?) throws {
        guard requiresKeyTags, let userID, tag(of: key) != KeyTag(user: userID) else { return }
        throw StoreError.unsupported("keep a session of a user under a key not tagged for that user (Redis Cluster; see KeyTag)")
    }
    private var grace: [UInt8] { bytes(String(Self.milliseconds(client.configuration.expiryGrace))) }

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        guard let raw = Self.keyBytes(key) else { return nil }
        let reply = try await client.send(RedisCommand(bytes: [Array("GET".utf8), try recordKey(raw)]))
        guard let value = reply.bytes else { return nil }
        let record = try Self.decode(value, key: key)
        return record.isExpired(at: now) ? nil : record
    }

    public func insert(_ record: SessionRecord) async throws {
        guard let raw = Self.keyBytes(record.key) else { throw StoreError.unavailable("session key is not a SHA-256 hex digest") }
        try checkPlacement(raw, userID: record.userID)
        let reply = try await client.run(
            durable: true,
            Self.insertScript,
            keys: [try recordKey(raw)],
            arguments: [bytes(try prefix(of: raw)), raw, record.binaryEncoded()] + userArguments(record.userID) + [grace]
        )
        if reply.int == 0 { throw StoreError.duplicateKey() }
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        guard let raw = Self.keyBytes(record.key) else { return false }
        try checkPlacement(raw, userID: record.userID)
        let reply = try await client.run(
            Self.updateScript,
            keys: [try recordKey(raw)],
            arguments: [bytes(try prefix(of: raw)), raw, Self.littleEndian(Int64(expectedVersion)), record.binaryEncoded()]
                + userArguments(record.userID) + [grace]
        )
        return reply.int == 1
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        guard let raw = Self.keyBytes(key) else { return }
        _ = try await client.run(
            Self.touchScript,
            keys: [try recordKey(raw)],
            arguments: [
                bytes(try prefix(of: raw)), raw, Self.littleEndian(Self.milliseconds(lastSeen)) + Self.littleEndian(Self.milliseconds(idleExpiresAt)),
                grace,
            ]
        )
    }

    public func delete(key: String) async throws {
        guard let raw = Self.keyBytes(key) else { return }
        _ = try await client.run(durable: true, Self.deleteScript, keys: [try recordKey(raw)], arguments: [bytes(try prefix(of: raw)), raw])
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        let prefix = try indexPrefix(userID)
        let reply = try await client.run(
            Self.recordsForUserScript,
            keys: [bytes(prefix + "u:" + userID)],
            arguments: [bytes(prefix), bytes(userID)]
        )
        guard let values = reply.array, values.count % 2 == 0 else {
            throw StoreError.unavailable("unexpected reply from redis")
        }
        var records: [SessionRecord] = []
        for start in stride(from: 0, to: values.count, by: 2) {
            guard let member = values[start].bytes.flatMap(Self.hex), let value = values[start + 1].bytes else { continue }
            let record = try Self.decode(value, key: member)
            if !record.isExpired(at: now) { records.append(record) }
        }
        return records
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        let except = exceptKey.flatMap(Self.keyBytes)
        let prefix = try indexPrefix(userID)
        let reply = try await client.run(
            durable: true,
            Self.deleteAllScript,
            keys: [bytes(prefix + "u:" + userID)],
            arguments: [bytes(prefix), bytes(userID), bytes(except == nil ? "0" : "1"), except ?? []]
        )
        return Int(reply.int ?? 0)
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        var removed = 0
        try await scan { keys in
            // One script per slot: on a cluster a script's keys must share one.
            for group in Dictionary(grouping: keys, by: { tag(of: $0)?.hex ?? "" }).values where removed < limit {
                guard let first = group.first else { continue }
                let reply = try await client.run(
                    Self.deleteExpiredScript,
                    keys: try group.map(recordKey),
                    arguments: [bytes(try prefix(of: first)), bytes(Self.ms(now)), bytes(String(limit - removed))]
                )
                removed += Int(reply.int ?? 0)
            }
            return removed < limit
        }
        return removed
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        guard limit > 0 else { return [] }
        var keys = Set<String>()
        try await scan { batch in
            for key in batch.compactMap(Self.hex) where afterKey.map({ key > $0 }) ?? true { keys.insert(key) }
            return true
        }
        let ordered = keys.sorted()
        var out: [SessionRecord] = []
        var start = ordered.startIndex
        while start < ordered.endIndex && out.count < limit {
            let end = min(start + max(limit - out.count, 16), ordered.endIndex)
            let chunk = Array(ordered[start..<end])
            // Raw replies: a key of another type under the prefix (an error reply) is skipped.
            let replies = try await client.raw(
                try chunk.map { RedisCommand(bytes: [Array("GET".utf8), try recordKey(Self.keyBytes($0) ?? [])]) }
            )
            for (key, reply) in zip(chunk, replies) where out.count < limit {
                guard let value = reply.bytes, let record = SessionRecord(binary: value, key: key) else { continue }
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

    /// Walks the session keys with `SCAN` (`P s:*`; on a cluster `P{*}s:*` on every primary),
    /// handing each page's 32-byte session keys to `page` (a key of another length under the
    /// prefix is not a session and is left out) until it returns false.
    private func scan(_ page: ([[UInt8]]) async throws -> Bool) async throws {
        let base = client.configuration.keyPrefix
        let clustered = requiresKeyTags
        let pattern = Self.globEscaped(base) + (clustered ? "\\{*\\}s:*" : "s:*")
        // `P s:` standalone; `P{tttt}s:` on a cluster.
        let skip = base.utf8.count + (clustered ? 6 : 0) + 2
        try await client.scan(matching: pattern) { names in
            let keys = names.compactMap { name -> [UInt8]? in
                guard name.count == skip + 32 else { return nil }
                let key = Array(name.dropFirst(skip))
                // On a cluster, the braces must hold the key's own tag (the slot it was written to).
                if clustered, (try? recordKey(key)) != name { return nil }
                return key
            }
            return try await page(keys)
        }
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    private func userArguments(_ userID: String?) -> [[UInt8]] {
        [bytes(userID == nil ? "0" : "1"), bytes(userID ?? "")]
    }

    /// The 32 bytes of a key of 64 lowercase hex digits; nil for anything else.
    static func keyBytes(_ key: String) -> [UInt8]? { HashedKey(key)?.bytes }

    /// 64 lowercase hex digits of 32 key bytes (nil for any other length).
    static func hex(_ bytes: [UInt8]) -> String? { HashedKey(bytes: bytes)?.hex }

    static func littleEndian(_ value: Int64) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
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

    /// Decodes a stored record (its key is not in the bytes: the caller names it).
    static func decode(_ value: [UInt8], key: String) throws -> SessionRecord {
        guard let record = SessionRecord(binary: value, key: key) else {
            throw StoreError.unavailable("malformed session record in redis")
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

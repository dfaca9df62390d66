import Foundation

/// Sessions in this process's memory: fast, lost on restart, not shared between nodes.
///
/// An actor, so every operation (and so compare-and-swap) is atomic. Built for a million
/// sessions: each is one compact binary blob keyed by its 32-byte hash (not a 64-character
/// string), and an expiry wheel of one-minute buckets lets `deleteExpired` find expired sessions
/// without scanning the live ones, a batch per call, so sweeping never holds the actor for long.
public actor MemorySessionStore: SessionStore {
    /// The binary record (`SessionRecord.binaryEncoded`); expiry and user are read from it.
    typealias Entry = [UInt8]

    private var entries: [HashedKey: Entry] = [:]
    /// A user has a handful of sessions: a small array costs less than a set.
    private var byUser: [String: [HashedKey]] = [:]
    private var wheel: [Int32: Set<HashedKey>] = [:]

    /// Creates an empty store.
    public init() {}

    /// How many records are held, expired or not.
    public var count: Int { entries.count }

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        guard let hashed = HashedKey(key), let entry = entries[hashed], Self.expiresAt(entry) > Self.ms(now) else { return nil }
        return SessionRecord(binary: entry, key: key)
    }

    public func insert(_ record: SessionRecord) async throws {
        let hashed = try Self.hashed(record.key)
        guard entries[hashed] == nil else { throw SessionStoreError.duplicateKey() }
        store(record, hashed)
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        guard let hashed = HashedKey(record.key), let existing = entries[hashed],
              let stored = SessionRecord(binary: existing, key: record.key), stored.version == expectedVersion
        else { return false }
        remove(hashed)
        store(record, hashed)
        return true
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        guard let hashed = HashedKey(key), let entry = entries[hashed], var record = SessionRecord(binary: entry, key: key) else { return }
        record.lastSeen = lastSeen
        record.idleExpiresAt = idleExpiresAt
        remove(hashed)
        store(record, hashed)
    }

    public func delete(key: String) async throws {
        guard let hashed = HashedKey(key) else { return }
        remove(hashed)
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        let cutoff = Self.ms(now)
        return (byUser[userID] ?? []).compactMap { hashed in
            guard let entry = entries[hashed], Self.expiresAt(entry) > cutoff else { return nil }
            return SessionRecord(binary: entry, key: hashed.hex)
        }
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        let except = exceptKey.flatMap(HashedKey.init)
        var removed = 0
        for hashed in byUser[userID] ?? [] where hashed != except {
            remove(hashed)
            removed += 1
        }
        return removed
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        let cutoff = Self.ms(now)
        let lastBucket = Self.bucket(cutoff)
        var removed = 0
        for bucket in wheel.keys.filter({ $0 <= lastBucket }).sorted() {
            // Take a batch out first, then remove: removing while iterating would copy the whole
            // bucket (copy-on-write) on every call, making a million-session sweep quadratic.
            guard let keys = wheel[bucket] else { continue }
            var candidates: [HashedKey] = []
            candidates.reserveCapacity(min(limit - removed, keys.count))
            // Only the newest bucket can hold live sessions; they are skipped, not counted.
            for hashed in keys {
                if candidates.count >= limit - removed { break }
                if let entry = entries[hashed], Self.expiresAt(entry) <= cutoff { candidates.append(hashed) }
            }
            for hashed in candidates {
                remove(hashed)
                removed += 1
            }
            if removed >= limit { return removed }
        }
        return removed
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        let cutoff = Self.ms(now)
        let keys = entries.compactMap { Self.expiresAt($0.value) > cutoff ? $0.key.hex : nil }
            .filter { key in afterKey.map { key > $0 } ?? true }
            .sorted()
            .prefix(limit)
        return keys.compactMap { key in HashedKey(key).flatMap { entries[$0] }.flatMap { SessionRecord(binary: $0, key: key) } }
    }

    public func ping() async throws {}

    // MARK: - Internals

    private func store(_ record: SessionRecord, _ hashed: HashedKey) {
        let bucket = Self.bucket(Self.ms(record.expiresAt))
        entries[hashed] = record.binaryEncoded()
        wheel[bucket, default: []].insert(hashed)
        if let user = record.userID, byUser[user]?.contains(hashed) != true { byUser[user, default: []].append(hashed) }
    }

    private func remove(_ hashed: HashedKey) {
        guard let entry = entries.removeValue(forKey: hashed) else { return }
        let bucket = Self.bucket(Self.expiresAt(entry))
        wheel[bucket]?.remove(hashed)
        if wheel[bucket]?.isEmpty == true { wheel[bucket] = nil }
        if let user = SessionRecord.binaryUserID(entry) {
            byUser[user]?.removeAll { $0 == hashed }
            if byUser[user]?.isEmpty == true { byUser[user] = nil }
        }
    }

    /// min(idle, absolute) expiry in ms, read in place from the binary record.
    private static func expiresAt(_ blob: [UInt8]) -> Int64 {
        min(SessionRecord.binaryInt(blob, at: 24), SessionRecord.binaryInt(blob, at: 32))
    }

    private static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    private static func bucket(_ ms: Int64) -> Int32 { Int32(clamping: ms / 60_000) }

    private static func hashed(_ key: String) throws -> HashedKey {
        guard let hashed = HashedKey(key) else { throw SessionStoreError.unavailable("session key is not a SHA-256 hex digest") }
        return hashed
    }
}

/// A SHA-256 digest held as four words (32 bytes inline) instead of 64 hex characters.
struct HashedKey: Hashable, Sendable {
    let a: UInt64, b: UInt64, c: UInt64, d: UInt64

    init?(_ hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (index, char) in utf8.enumerated() {
            let nibble: UInt8
            switch char {
            case 48...57: nibble = char - 48
            case 97...102: nibble = char - 87
            default: return nil
            }
            words[index / 16] = words[index / 16] << 4 | UInt64(nibble)
        }
        (a, b, c, d) = (words[0], words[1], words[2], words[3])
    }

    var hex: String {
        var out = ""
        out.reserveCapacity(64)
        for word in [a, b, c, d] {
            let text = String(word, radix: 16)
            out += String(repeating: "0", count: 16 - text.count) + text
        }
        return out
    }
}

import CloakroomCore
public import Foundation

/// Sessions in this process's memory: fast, lost on restart, not shared between nodes.
///
/// An actor, so every operation (and so compare-and-swap) is atomic. Built for a million
/// sessions (`MemorySessionTable`): each is one exactly sized compact binary record in a dense
/// entry array keyed by its 32-byte hash (not a 64-character string), found through one
/// open-addressing index; each entry is linked into its expiry minute and its user's list, so
/// `deleteExpired` finds expired sessions without scanning the live ones, a batch per call, and
/// sweeping never holds the actor for long.
public actor MemorySessionStore: CompleteSessionStore {
    private var table = MemorySessionTable()

    /// Creates an empty store.
    public init() {}

    /// How many records are held, expired or not.
    public var count: Int { table.count }

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        guard let hashed = HashedKey(key), let entry = table.find(hashed), table.expiresAt(entry) > Self.ms(now) else { return nil }
        return SessionRecord(binary: table.blob(entry), key: key)
    }

    public func insert(_ record: SessionRecord) async throws {
        let hashed = try Self.hashed(record.key)
        guard table.find(hashed) == nil else { throw StoreError.duplicateKey() }
        try table.insert(hashed, blob: record.binaryEncoded(), userID: record.userID)
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        guard let hashed = HashedKey(record.key), let entry = table.find(hashed),
            MemorySessionTable.int(table.blob(entry), at: MemorySessionTable.Layout.version) == Int64(expectedVersion)
        else { return false }
        table.replace(entry, blob: record.binaryEncoded(), userID: record.userID)
        return true
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        guard let hashed = HashedKey(key), let entry = table.find(hashed) else { return }
        table.touch(entry, lastSeen: Self.ms(lastSeen), idleExpiresAt: Self.ms(idleExpiresAt))
    }

    public func delete(key: String) async throws {
        guard let hashed = HashedKey(key) else { return }
        table.remove(hashed)
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        let cutoff = Self.ms(now)
        return table.entries(ofUser: userID).compactMap { entry in
            guard table.expiresAt(entry) > cutoff else { return nil }
            return SessionRecord(binary: table.blob(entry), key: table.key(entry).hex)
        }
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        let except = exceptKey.flatMap(HashedKey.init)
        var removed = 0
        for entry in table.entries(ofUser: userID) {
            let hashed = table.key(entry)
            if hashed != except, table.remove(hashed) { removed += 1 }
        }
        return removed
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        table.removeExpired(cutoff: Self.ms(now), limit: limit)
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        let cutoff = Self.ms(now)
        let keys: [HashedKey]
        if let afterKey, let bound = HashedKey(afterKey) {
            keys = table.sortedKeys(liveAt: cutoff, limit: limit) { $0 > bound }
        } else if let afterKey {
            // Not a digest: compare as strings, as the other stores do.
            keys = table.sortedKeys(liveAt: cutoff, limit: limit) { $0.hex > afterKey }
        } else {
            keys = table.sortedKeys(liveAt: cutoff, limit: limit) { _ in true }
        }
        return keys.compactMap { hashed in
            table.find(hashed).flatMap { SessionRecord(binary: table.blob($0), key: hashed.hex) }
        }
    }

    public func ping() async throws {}

    // MARK: - Internals

    /// Milliseconds since 1970, as the binary form stores them (clamped, never trapping).
    private static func ms(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return value > 0 ? .max : .min }
        return Int64(exactly: value) ?? (value > 0 ? .max : .min)
    }

    private static func hashed(_ key: String) throws -> HashedKey {
        guard let hashed = HashedKey(key) else { throw StoreError.unavailable("session key is not a SHA-256 hex digest") }
        return hashed
    }
}

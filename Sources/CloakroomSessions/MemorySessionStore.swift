import Foundation

/// Sessions in this process's memory: fast, lost on restart, not shared between nodes.
///
/// An actor, so every operation (and so compare-and-swap) is atomic. Expired records are
/// invisible at once and removed by `SessionSweeper` in batches.
public actor MemorySessionStore: SessionStore {
    private var records: [String: SessionRecord] = [:]
    private var byUser: [String: Set<String>] = [:]

    /// Creates an empty store. Expired records are removed by a `SessionSweeper`.
    public init() {}

    /// How many records are held, expired or not.
    public var count: Int { records.count }

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        guard let record = records[key], !record.isExpired(at: now) else { return nil }
        return record
    }

    public func insert(_ record: SessionRecord) async throws {
        guard records[record.key] == nil else { throw SessionStoreError.duplicateKey() }
        records[record.key] = record
        index(record)
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        guard let existing = records[record.key], existing.version == expectedVersion else { return false }
        if existing.userID != record.userID { unindex(existing) }
        records[record.key] = record
        index(record)
        return true
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        records[key]?.lastSeen = lastSeen
        records[key]?.idleExpiresAt = idleExpiresAt
    }

    public func delete(key: String) async throws {
        if let existing = records.removeValue(forKey: key) { unindex(existing) }
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        (byUser[userID] ?? []).compactMap { records[$0] }.filter { !$0.isExpired(at: now) }
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        var removed = 0
        for key in byUser[userID] ?? [] where key != exceptKey {
            if let existing = records.removeValue(forKey: key) {
                unindex(existing)
                removed += 1
            }
        }
        return removed
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        let expired = records.lazy.filter { $0.value.isExpired(at: now) }.prefix(limit).map(\.key)
        let keys = Array(expired)
        for key in keys {
            if let record = records.removeValue(forKey: key) { unindex(record) }
        }
        return keys.count
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        let keys = records.keys.filter { key in afterKey.map { key > $0 } ?? true }.sorted()
        var out: [SessionRecord] = []
        for key in keys {
            guard let record = records[key], !record.isExpired(at: now) else { continue }
            out.append(record)
            if out.count >= limit { break }
        }
        return out
    }

    public func ping() async throws {}

    private func index(_ record: SessionRecord) {
        guard let user = record.userID else { return }
        byUser[user, default: []].insert(record.key)
    }

    private func unindex(_ record: SessionRecord) {
        guard let user = record.userID else { return }
        byUser[user]?.remove(record.key)
        if byUser[user]?.isEmpty == true { byUser[user] = nil }
    }
}

import CloakroomCore
import Foundation

/// The memory store's data: binary records in a dense array of entries, found through one
/// open-addressing hash index, each entry threaded on two intrusive doubly linked lists (the
/// sessions expiring in its minute, the sessions of its user).
///
/// Per session that is one 56-byte entry (the 32-byte key, the record, four 32-bit links), 8 to 16
/// bytes of index, and the record's own allocation sized exactly: no per-bucket sets, no per-user
/// arrays, no second hash table for the expiry wheel.
///
/// Entry numbers are stable while an entry lives (the index holds numbers, so growing the index
/// moves nothing else); a removed entry goes on a free list and is reused by the next insert.
struct MemorySessionTable: Sendable {
    /// "No entry" in a link.
    static let none: UInt32 = .max

    struct Entry: Sendable {
        var key: HashedKey
        /// The record's binary form (`SessionRecord.binaryEncoded`), exactly sized; empty when free.
        var blob: [UInt8]
        /// Neighbours in the list of its expiry minute; `wheelNext` links the free list when free.
        var wheelPrev: UInt32
        var wheelNext: UInt32
        /// Neighbours in the list of its user (both `none` for an anonymous session).
        var userPrev: UInt32
        var userNext: UInt32
    }

    /// Offsets of fields in the binary form (see SessionRecord+Binary.swift).
    enum Layout {
        static let version = 0
        static let lastSeen = 16
        static let idleExpiresAt = 24
        static let absoluteExpiresAt = 32
        static let fixedFields = 48
    }

    private var entries: ContiguousArray<Entry> = []
    private var freeHead: UInt32 = none
    /// Entries in use (expired ones included until swept).
    private(set) var count = 0

    /// Linear probing; 0 is an empty slot, otherwise entry number + 1. At most half full.
    private var slots: [UInt32]
    /// 64 − log2(slots.count): the home slot is the top bits of the mixed hash.
    private var shift: UInt64
    /// Random per table, so slot positions cannot be predicted from keys.
    private let seed: UInt64

    /// Expiry minute → first entry of that minute's list.
    private var wheel: [Int32: UInt32] = [:]
    /// User → first entry of that user's list.
    private var users: [String: UInt32] = [:]

    init() {
        slots = [UInt32](repeating: 0, count: 16)
        shift = 60
        seed = UInt64.random(in: .min ... .max)
    }

    // MARK: - Lookup

    /// The entry holding `key`, if any.
    func find(_ key: HashedKey) -> Int? {
        findSlot(key).map { Int(slots[$0]) - 1 }
    }

    func key(_ entry: Int) -> HashedKey { entries[entry].key }
    func blob(_ entry: Int) -> [UInt8] { entries[entry].blob }
    func expiresAt(_ entry: Int) -> Int64 { Self.expiresAt(entries[entry].blob) }

    // MARK: - Changes

    /// Adds a record under a key that is not present (the caller checked with `find`).
    mutating func insert(_ key: HashedKey, blob: [UInt8], userID: String?) throws {
        // Entry numbers and the index's "number + 1" must stay below `none`.
        guard count < Int(UInt32.max) - 2 else { throw StoreError.unavailable("the memory store is full") }
        if (count + 1) * 2 > slots.count { grow() }
        let entry = Entry(key: key, blob: Self.exact(blob), wheelPrev: Self.none, wheelNext: Self.none, userPrev: Self.none, userNext: Self.none)
        let number: Int
        if freeHead != Self.none {
            number = Int(freeHead)
            freeHead = entries[number].wheelNext
            entries[number] = entry
        } else {
            number = entries.count
            entries.append(entry)
        }
        count += 1
        var slot = home(key)
        while slots[slot] != 0 { slot = (slot + 1) & (slots.count - 1) }
        slots[slot] = UInt32(number + 1)
        linkWheel(number)
        if let userID { linkUser(number, userID) }
    }

    /// Replaces an entry's record, moving it between expiry minutes and users as needed.
    mutating func replace(_ entry: Int, blob: [UInt8], userID: String?) {
        let oldUser = SessionRecord.binaryUserID(entries[entry].blob)
        unlinkWheel(entry)
        if oldUser != userID, let oldUser { unlinkUser(entry, oldUser) }
        entries[entry].blob = Self.exact(blob)
        linkWheel(entry)
        if oldUser != userID, let userID { linkUser(entry, userID) }
    }

    /// Rewrites lastSeen and the idle expiry in place (touch leaves every other field alone).
    mutating func touch(_ entry: Int, lastSeen: Int64, idleExpiresAt: Int64) {
        guard entries[entry].blob.count >= Layout.fixedFields else { return }
        unlinkWheel(entry)
        entries[entry].blob.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: lastSeen.littleEndian, toByteOffset: Layout.lastSeen, as: Int64.self)
            raw.storeBytes(of: idleExpiresAt.littleEndian, toByteOffset: Layout.idleExpiresAt, as: Int64.self)
        }
        linkWheel(entry)
    }

    /// Removes the entry holding `key`; false if there is none.
    @discardableResult
    mutating func remove(_ key: HashedKey) -> Bool {
        guard let slot = findSlot(key) else { return false }
        let entry = Int(slots[slot]) - 1
        removeSlot(slot)
        unlinkWheel(entry)
        if let user = SessionRecord.binaryUserID(entries[entry].blob) { unlinkUser(entry, user) }
        entries[entry].blob = []
        entries[entry].wheelNext = freeHead
        freeHead = UInt32(entry)
        count -= 1
        return true
    }

    // MARK: - Walks

    /// The entries of `userID`, oldest link first.
    func entries(ofUser userID: String) -> [Int] {
        var result: [Int] = []
        var cursor = users[userID] ?? Self.none
        while cursor != Self.none {
            result.append(Int(cursor))
            cursor = entries[Int(cursor)].userNext
        }
        return result.reversed()
    }

    /// Removes up to `limit` entries expired at `cutoff` (ms), walking only the minutes up to it.
    ///
    /// Minutes before the cutoff's hold only expired entries, so each call costs its batch plus
    /// the live entries of the cutoff's own minute, never the whole table.
    mutating func removeExpired(cutoff: Int64, limit: Int) -> Int {
        guard limit > 0 else { return 0 }
        let last = Self.minute(cutoff)
        var removed = 0
        for minute in wheel.keys.filter({ $0 <= last }).sorted() {
            var cursor = wheel[minute] ?? Self.none
            while cursor != Self.none, removed < limit {
                let entry = Int(cursor)
                cursor = entries[entry].wheelNext
                if Self.expiresAt(entries[entry].blob) <= cutoff, remove(entries[entry].key) { removed += 1 }
            }
            if removed >= limit { break }
        }
        return removed
    }

    /// Up to `limit` keys of entries live at `cutoff` and accepted by `isAfter`, in key order.
    ///
    /// One pass over the entries keeping the smallest candidates (sorted down to `limit` whenever
    /// twice that many gather): O(n log limit), with no strings made for keys that are not returned.
    func sortedKeys(liveAt cutoff: Int64, limit: Int, where isAfter: (HashedKey) -> Bool) -> [HashedKey] {
        guard limit > 0 else { return [] }
        let keep = min(limit, count)
        var found: [HashedKey] = []
        for entry in entries where !entry.blob.isEmpty {
            guard Self.expiresAt(entry.blob) > cutoff, isAfter(entry.key) else { continue }
            found.append(entry.key)
            if found.count >= 2 * keep + 64 {
                found.sort()
                found.removeLast(found.count - keep)
            }
        }
        found.sort()
        return Array(found.prefix(keep))
    }

    // MARK: - Hash index

    private func home(_ key: HashedKey) -> Int {
        // The key is already a SHA-256 digest; mixing in a random seed keeps positions unpredictable.
        Int(truncatingIfNeeded: (((key.a ^ seed) &+ key.c) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    private func findSlot(_ key: HashedKey) -> Int? {
        let mask = slots.count - 1
        var slot = home(key)
        while true {
            let value = slots[slot]
            if value == 0 { return nil }
            if entries[Int(value) - 1].key == key { return slot }
            slot = (slot + 1) & mask
        }
    }

    /// Empties `slot` and shifts later entries of its run back, so lookups need no tombstones.
    private mutating func removeSlot(_ slot: Int) {
        let mask = slots.count - 1
        var hole = slot
        var next = slot
        slots[hole] = 0
        while true {
            next = (next + 1) & mask
            let value = slots[next]
            if value == 0 { return }
            let start = home(entries[Int(value) - 1].key)
            // Movable into the hole unless its home lies after the hole (cyclically) up to `next`.
            if (next - start) & mask >= (next - hole) & mask {
                slots[hole] = value
                slots[next] = 0
                hole = next
            }
        }
    }

    /// Doubles the index and re-places every entry number (entries themselves do not move).
    private mutating func grow() {
        let old = slots
        slots = [UInt32](repeating: 0, count: old.count * 2)
        shift -= 1
        let mask = slots.count - 1
        for value in old where value != 0 {
            var slot = home(entries[Int(value) - 1].key)
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = value
        }
    }

    // MARK: - Lists

    private mutating func linkWheel(_ entry: Int) {
        let minute = Self.minute(Self.expiresAt(entries[entry].blob))
        let head = wheel[minute] ?? Self.none
        entries[entry].wheelPrev = Self.none
        entries[entry].wheelNext = head
        if head != Self.none { entries[Int(head)].wheelPrev = UInt32(entry) }
        wheel[minute] = UInt32(entry)
    }

    /// Takes the entry out of its minute's list; its record must still be the one it was linked with.
    private mutating func unlinkWheel(_ entry: Int) {
        let (prev, next) = (entries[entry].wheelPrev, entries[entry].wheelNext)
        if next != Self.none { entries[Int(next)].wheelPrev = prev }
        if prev != Self.none {
            entries[Int(prev)].wheelNext = next
        } else {
            wheel[Self.minute(Self.expiresAt(entries[entry].blob))] = next == Self.none ? nil : next
        }
        entries[entry].wheelPrev = Self.none
        entries[entry].wheelNext = Self.none
    }

    private mutating func linkUser(_ entry: Int, _ userID: String) {
        let head = users[userID] ?? Self.none
        entries[entry].userPrev = Self.none
        entries[entry].userNext = head
        if head != Self.none { entries[Int(head)].userPrev = UInt32(entry) }
        users[userID] = UInt32(entry)
    }

    private mutating func unlinkUser(_ entry: Int, _ userID: String) {
        let (prev, next) = (entries[entry].userPrev, entries[entry].userNext)
        if next != Self.none { entries[Int(next)].userPrev = prev }
        if prev != Self.none {
            entries[Int(prev)].userNext = next
        } else {
            users[userID] = next == Self.none ? nil : next
        }
        entries[entry].userPrev = Self.none
        entries[entry].userNext = Self.none
    }

    // MARK: - Records

    /// A copy with no spare capacity: the encoder reserves a guess and may overshoot by half.
    private static func exact(_ blob: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: blob.count) { buffer, initialized in
            initialized = buffer.initialize(fromContentsOf: blob)
        }
    }

    /// The i64 at `offset` of a binary record (0 when it is too short).
    static func int(_ blob: [UInt8], at offset: Int) -> Int64 {
        guard offset >= 0, offset + 8 <= blob.count else { return 0 }
        return blob.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: Int64.self)) }
    }

    /// min(idle, absolute) expiry in ms, read in place from the binary record.
    static func expiresAt(_ blob: [UInt8]) -> Int64 {
        min(int(blob, at: Layout.idleExpiresAt), int(blob, at: Layout.absoluteExpiresAt))
    }

    static func minute(_ ms: Int64) -> Int32 { Int32(clamping: ms / 60_000) }
}

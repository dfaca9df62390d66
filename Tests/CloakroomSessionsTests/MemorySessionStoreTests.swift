import CloakroomCore
import Foundation
import Testing

@testable import CloakroomSessions

/// The memory store's own table (hash index with backward-shift deletion, entry reuse, expiry
/// and user lists) checked against a plain dictionary over thousands of random operations.
@Suite("MemorySessionStore: table against a reference model")
struct MemorySessionStoreTests {
    /// SplitMix64: the same sequence on every run.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

    @Test("random operations match a dictionary", arguments: [1, 2, 3])
    func matchesModel(seed: UInt64) async throws {
        var random = SeededGenerator(state: seed)
        let store = MemorySessionStore()
        var model: [String: SessionRecord] = [:]
        let keys = (0..<400).map { SecureToken.hash("model-\($0)") }
        let users: [String?] = [nil, nil, "ann", "bob", "cy", "dee", "a-user-id-longer-than-fifteen-bytes"]
        var nowMs: Int64 = 1_767_225_600_000

        func makeRecord(_ key: String, version: Int) -> SessionRecord {
            let idle = nowMs + Int64.random(in: 1_000...600_000, using: &random)
            let absolute = nowMs + Int64.random(in: 1_000...3_600_000, using: &random)
            var data: [String: String] = [:]
            for index in 0..<Int.random(in: 0...3, using: &random) {
                data["k\(index)"] = String(repeating: "x", count: Int.random(in: 0...300, using: &random))
            }
            return SessionRecord(
                key: key,
                handle: "h-\(key.prefix(8))",
                userID: users.randomElement(using: &random) ?? nil,
                data: data,
                createdAt: Self.date(nowMs),
                lastSeen: Self.date(nowMs),
                idleExpiresAt: Self.date(idle),
                absoluteExpiresAt: Self.date(absolute),
                userAgent: Bool.random(using: &random) ? "UA" : nil,
                ipAddress: "10.0.0.1",
                version: version
            )
        }
        func live(_ record: SessionRecord) -> Bool { record.expiresAt > Self.date(nowMs) }

        for step in 0..<6_000 {
            let key = keys.randomElement(using: &random) ?? keys[0]
            let now = Self.date(nowMs)
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<35:
                let record = makeRecord(key, version: 1)
                do {
                    try await store.insert(record)
                    #expect(model[key] == nil, "step \(step): duplicate insert accepted")
                    model[key] = record
                } catch let error as StoreError {
                    #expect(error.isDuplicateKey && model[key] != nil, "step \(step): \(error)")
                }
            case 35..<50:
                let expected = (model[key]?.version ?? 1) + (Bool.random(using: &random) ? 0 : 1)
                let record = makeRecord(key, version: expected + 1)
                let written = try await store.update(record, expectedVersion: expected)
                let shouldWrite = model[key]?.version == expected
                #expect(written == shouldWrite, "step \(step): update answered \(written)")
                if shouldWrite { model[key] = record }
            case 50..<62:
                let seen = nowMs + Int64.random(in: 0...1_000, using: &random)
                let idle = nowMs + Int64.random(in: -1_000...900_000, using: &random)
                try await store.touch(key: key, lastSeen: Self.date(seen), idleExpiresAt: Self.date(idle))
                model[key]?.lastSeen = Self.date(seen)
                model[key]?.idleExpiresAt = Self.date(idle)
            case 62..<72:
                try await store.delete(key: key)
                model[key] = nil
            case 72..<75:
                let user = users.randomElement(using: &random) ?? nil
                guard let user else { continue }
                let except = Bool.random(using: &random) ? key : nil
                let removed = try await store.deleteAll(forUser: user, exceptKey: except)
                let victims = model.values.filter { $0.userID == user && $0.key != except }.map(\.key)
                #expect(removed == victims.count, "step \(step): deleteAll removed \(removed), expected \(victims.count)")
                for victim in victims { model[victim] = nil }
            case 75..<80:
                let limit = Int.random(in: 1...40, using: &random)
                var expired = model.values.filter { !live($0) }.count
                while true {
                    let removed = try await store.deleteExpired(now: now, limit: limit)
                    #expect(removed == min(limit, expired), "step \(step): swept \(removed) of \(expired) with limit \(limit)")
                    expired -= removed
                    if removed == 0 || expired < 0 { break }
                }
                model = model.filter { live($0.value) }
            case 80..<90:
                nowMs += Int64.random(in: 0...120_000, using: &random)
            default:
                let loaded = try await store.load(key: key, now: now)
                let expected = model[key].flatMap { live($0) ? $0 : nil }
                #expect(loaded == expected, "step \(step): load differs")
            }
            if step % 500 == 0 {
                try await compare(store, model, now: now, users: users.compactMap { $0 })
            }
        }
        try await compare(store, model, now: Self.date(nowMs), users: users.compactMap { $0 })
        _ = try await store.deleteExpired(now: .distantFuture, limit: .max)
        #expect(await store.count == 0)
        #expect(try await store.list(now: .distantPast, afterKey: nil, limit: 10).isEmpty)
    }

    func compare(_ store: MemorySessionStore, _ model: [String: SessionRecord], now: Date, users: [String]) async throws {
        #expect(await store.count == model.count)
        let live = model.values.filter { $0.expiresAt > now }
        let listed = try await store.list(now: now, afterKey: nil, limit: .max)
        #expect(listed == live.sorted { $0.key < $1.key })
        var paged: [SessionRecord] = []
        var after: String? = nil
        while true {
            let page = try await store.list(now: now, afterKey: after, limit: 7)
            paged += page
            guard let last = page.last else { break }
            after = last.key
        }
        #expect(paged == listed)
        for user in users {
            let records = try await store.records(forUser: user, now: now).sorted { $0.key < $1.key }
            #expect(records == live.filter { $0.userID == user }.sorted { $0.key < $1.key })
        }
    }

    @Test func hashedKeysRoundTripAndSortLikeTheirHex() {
        let hexes = (0..<200).map { SecureToken.hash("order-\($0)") } + [String(repeating: "0", count: 64), String(repeating: "f", count: 64)]
        let keys = hexes.compactMap(HashedKey.init)
        #expect(keys.count == hexes.count)
        #expect(keys.map(\.hex) == hexes)
        #expect(keys.sorted().map(\.hex) == hexes.sorted())
        // The 32 bytes are the hex digits read two at a time (what the Redis store keeps).
        for (key, hex) in zip(keys, hexes) {
            #expect(key.bytes == Hex.decode(hex))
            #expect(HashedKey(bytes: key.bytes) == key)
        }
        #expect(HashedKey(bytes: [UInt8](repeating: 7, count: 31)) == nil)
        #expect(HashedKey(bytes: [UInt8](repeating: 7, count: 33)) == nil)
        for bad in [
            "", String(repeating: "a", count: 63), String(repeating: "a", count: 65), String(repeating: "A", count: 64),
            String(repeating: "g", count: 64), String(repeating: "é", count: 32),
        ] {
            #expect(HashedKey(bad) == nil, "accepted \(bad)")
        }
    }

    @Test func listAfterAKeyThatIsNotADigestComparesAsStrings() async throws {
        let store = MemorySessionStore()
        let t0 = Self.date(1_767_225_600_000)
        let keys = (0..<20).map { SecureToken.hash("list-\($0)") }
        for key in keys {
            try await store.insert(
                SessionRecord(key: key, handle: "h", createdAt: t0, lastSeen: t0, idleExpiresAt: t0 + 60, absoluteExpiresAt: t0 + 60)
            )
        }
        for after in ["", "8", "c0ffee", "zzz"] {
            let listed = try await store.list(now: t0, afterKey: after, limit: 100).map(\.key)
            #expect(listed == keys.filter { $0 > after }.sorted())
        }
    }
}

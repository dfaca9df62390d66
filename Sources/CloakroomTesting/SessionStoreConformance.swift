import CloakroomCore
public import CloakroomSessions
import Foundation

/// The behaviour every `SessionStore` must show, run against a real backend.
///
/// Like NIO's `ByteToMessageDecoderVerifier`: a backend's test target calls
/// `try await SessionStoreConformance.run { makeEmptyStore() }` and every check throws a
/// `ConformanceFailure` naming the rule broken. Each check gets a fresh store from the factory.
public enum SessionStoreConformance {
    /// A rule the store broke (the type both suites share).
    public typealias ConformanceFailure = CloakroomTesting.ConformanceFailure

    /// The names of every check, in order.
    public static let checkNames: [String] = suite.names

    /// Runs every check (or those named in `only`) against fresh stores from `makeStore`.
    public static func run(only: Set<String>? = nil, makeStore: @Sendable () async throws -> any CompleteSessionStore) async throws {
        try await suite.run(only: only, makeStore: makeStore)
    }

    static let suite = ConformanceChecks<any CompleteSessionStore>(checks: checks)

    static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

    static func record(
        _ name: String,
        user: String? = nil,
        data: [String: String] = [:],
        created: Date = t0,
        idle: TimeInterval = 1800,
        absolute: TimeInterval = 43200
    ) -> SessionRecord {
        SessionRecord(
            key: key(name, user: user),
            handle: "h-" + name,
            userID: user,
            data: data,
            createdAt: created,
            lastSeen: created,
            idleExpiresAt: created.addingTimeInterval(idle),
            absoluteExpiresAt: created.addingTimeInterval(absolute),
            userAgent: "UA/1.0 ✓",
            ipAddress: "127.0.0.1"
        )
    }

    /// The hashed key of session `name`: tagged for its user (see `KeyTag`), as `SessionManager`
    /// makes a signed-in session's key for a store that shards by key; any store takes it.
    static func key(_ name: String, user: String? = nil) -> String {
        let hash = SecureToken.hash(name)
        guard let user else { return hash }
        return KeyTag(user: user).hex + hash.dropFirst(4)
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        try ConformanceChecks<any CompleteSessionStore>.expect(condition, message())
    }

    static func same(_ a: SessionRecord?, _ b: SessionRecord?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        // Stores may keep times at millisecond precision.
        func ms(_ d: Date?) -> Int64? { d.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } }
        return a.key == b.key && a.handle == b.handle && a.userID == b.userID && a.data == b.data
            && ms(a.createdAt) == ms(b.createdAt) && ms(a.lastSeen) == ms(b.lastSeen)
            && ms(a.authenticatedAt) == ms(b.authenticatedAt) && ms(a.idleExpiresAt) == ms(b.idleExpiresAt)
            && ms(a.absoluteExpiresAt) == ms(b.absoluteExpiresAt) && a.userAgent == b.userAgent
            && a.ipAddress == b.ipAddress && a.version == b.version
    }

    typealias Check = @Sendable (any CompleteSessionStore) async throws -> Void

    static let checks: [(String, Check)] = [
        (
            "missing key loads nil",
            { store in
                try expect(try await store.load(key: SecureToken.hash("nobody"), now: t0) == nil, "expected nil for a key never inserted")
            }
        ),
        (
            "insert then load round-trips every field",
            { store in
                var r = record("a", user: "u1", data: ["cart": #"{"items":[1,2,3]}"#, "note": "\"héllo ✓\""])
                r.authenticatedAt = t0.addingTimeInterval(1.5)
                try await store.insert(r)
                let loaded = try await store.load(key: r.key, now: t0.addingTimeInterval(1))
                try expect(same(loaded, r), "loaded \(String(describing: loaded)) != inserted \(r)")
            }
        ),
        (
            "duplicate insert is refused",
            { store in
                let r = record("dup")
                try await store.insert(r)
                do {
                    try await store.insert(r)
                    throw ConformanceFailure(description: "second insert of the same key succeeded")
                } catch let error as StoreError {
                    try expect(error.isDuplicateKey, "expected duplicateKey, got \(error)")
                }
            }
        ),
        (
            "update is compare-and-swap on version",
            { store in
                let r = record("cas", data: ["a": "1"])
                try await store.insert(r)
                var next = r
                next.data["b"] = "2"
                next.version = 2
                try expect(try await store.update(next, expectedVersion: 1), "update with the current version failed")
                var stale = r
                stale.data = ["c": "3"]
                stale.version = 2
                try expect(!(try await store.update(stale, expectedVersion: 1)), "update with a stale version succeeded")
                let loaded = try await store.load(key: r.key, now: t0)
                try expect(
                    loaded?.data == ["a": "1", "b": "2"] && loaded?.version == 2,
                    "after CAS expected v2 {a,b}, got \(String(describing: loaded))"
                )
                var ghost = record("ghost")
                ghost.version = 2
                try expect(!(try await store.update(ghost, expectedVersion: 1)), "update of a missing key reported success")
                try expect(try await store.load(key: ghost.key, now: t0) == nil, "update of a missing key created it")
            }
        ),
        (
            "expired records are invisible; touch extends the idle expiry",
            { store in
                let r = record("exp", idle: 100, absolute: 1000)
                try await store.insert(r)
                try expect(try await store.load(key: r.key, now: t0.addingTimeInterval(99)) != nil, "live record not found")
                try expect(try await store.load(key: r.key, now: t0.addingTimeInterval(100)) == nil, "record returned at its idle expiry")
                try await store.touch(key: r.key, lastSeen: t0.addingTimeInterval(90), idleExpiresAt: t0.addingTimeInterval(190))
                let touched = try await store.load(key: r.key, now: t0.addingTimeInterval(150))
                try expect(touched != nil, "touched record not found before its new idle expiry")
                try expect(touched?.version == r.version, "touch changed the version")
                try expect(
                    abs((touched?.lastSeen.timeIntervalSince1970 ?? 0) - t0.addingTimeInterval(90).timeIntervalSince1970) < 0.01,
                    "touch did not move lastSeen"
                )
                try await store.touch(key: r.key, lastSeen: t0.addingTimeInterval(900), idleExpiresAt: t0.addingTimeInterval(5000))
                try expect(try await store.load(key: r.key, now: t0.addingTimeInterval(1000)) == nil, "record returned past its absolute expiry")
                try await store.touch(key: SecureToken.hash("nobody"), lastSeen: t0, idleExpiresAt: t0)
            }
        ),
        (
            "delete removes; deleting a missing key is fine",
            { store in
                let r = record("del")
                try await store.insert(r)
                try await store.delete(key: r.key)
                try expect(try await store.load(key: r.key, now: t0) == nil, "deleted record still loads")
                try await store.delete(key: r.key)
            }
        ),
        (
            "per-user index lists live sessions and follows user changes",
            { store in
                try await store.insert(record("u1a", user: "u1"))
                try await store.insert(record("u1b", user: "u1", idle: 10))
                try await store.insert(record("u2a", user: "u2"))
                try await store.insert(record("anon"))
                let u1 = try await store.records(forUser: "u1", now: t0.addingTimeInterval(5)).map(\.handle).sorted()
                try expect(u1 == ["h-u1a", "h-u1b"], "u1 sessions: \(u1)")
                let later = try await store.records(forUser: "u1", now: t0.addingTimeInterval(20)).map(\.handle)
                try expect(later == ["h-u1a"], "expired session listed: \(later)")
                guard var moved = try await store.load(key: key("anon"), now: t0) else {
                    throw ConformanceFailure(description: "anon missing")
                }
                moved.userID = "u2"
                moved.version += 1
                if (store as? any KeyTaggedStore)?.requiresKeyTags == true {
                    // A store that shards by key cannot move a session to a user its key is not
                    // tagged for (SessionManager signs in under a new, tagged ID): it refuses,
                    // and writes nothing.
                    var refused = false
                    do { _ = try await store.update(moved, expectedVersion: 1) } catch let error as StoreError where error.isUnsupported {
                        refused = true
                    }
                    try expect(refused, "a tagged store moved a session to a user its key is not tagged for")
                    let still = try await store.load(key: key("anon"), now: t0)
                    try expect(still?.userID == nil && still?.version == 1, "a refused update changed the record")
                    let u2 = try await store.records(forUser: "u2", now: t0).map(\.handle)
                    try expect(u2 == ["h-u2a"], "u2 sessions after a refused move: \(u2)")
                } else {
                    try expect(try await store.update(moved, expectedVersion: 1), "could not sign in anon")
                    let u2 = try await store.records(forUser: "u2", now: t0).map(\.handle).sorted()
                    try expect(u2 == ["h-anon", "h-u2a"], "u2 sessions after sign-in: \(u2)")
                }
                try expect(try await store.records(forUser: "nobody", now: t0).isEmpty, "unknown user has sessions")
            }
        ),
        (
            "deleteAll for a user keeps the excepted key and other users",
            { store in
                for name in ["a", "b", "c"] { try await store.insert(record("x" + name, user: "ux")) }
                try await store.insert(record("y", user: "uy"))
                let removed = try await store.deleteAll(forUser: "ux", exceptKey: key("xb", user: "ux"))
                try expect(removed == 2, "removed \(removed), expected 2")
                try expect(try await store.records(forUser: "ux", now: t0).map(\.handle) == ["h-xb"], "wrong survivor")
                try expect(try await store.load(key: key("y", user: "uy"), now: t0) != nil, "another user's session was removed")
                let all = try await store.deleteAll(forUser: "ux", exceptKey: nil)
                let remaining = try await store.records(forUser: "ux", now: t0)
                try expect(all == 1 && remaining.isEmpty, "deleteAll without exception left sessions")
            }
        ),
        (
            "deleteExpired removes only expired records, at most limit per call",
            { store in
                for i in 0..<25 { try await store.insert(record("old\(i)", user: "ue", idle: 10)) }
                for i in 0..<5 { try await store.insert(record("new\(i)", user: "ue", idle: 1000)) }
                let now = t0.addingTimeInterval(50)
                let first = try await store.deleteExpired(now: now, limit: 10)
                try expect(first == 10, "first batch removed \(first), expected 10")
                var total = first
                while true {
                    let n = try await store.deleteExpired(now: now, limit: 10)
                    total += n
                    if n == 0 { break }
                }
                try expect(total == 25, "removed \(total) expired, expected 25")
                try expect(try await store.records(forUser: "ue", now: now).count == 5, "live records were swept")
                try expect(try await store.list(now: t0, afterKey: nil, limit: 100).count == 5, "expired records remain listed")
            }
        ),
        (
            "list pages through live records in key order",
            { store in
                for i in 0..<12 { try await store.insert(record("p\(i)")) }
                var seen: [String] = []
                var after: String? = nil
                while true {
                    let page = try await store.list(now: t0, afterKey: after, limit: 5)
                    try expect(page.count <= 5, "page larger than limit")
                    seen += page.map(\.key)
                    guard let last = page.last, page.count == 5 else { break }
                    after = last.key
                }
                try expect(
                    seen == seen.sorted() && Set(seen).count == 12 && seen.count == 12,
                    "listing returned \(seen.count) keys, sorted: \(seen == seen.sorted())"
                )
            }
        ),
        (
            "100 concurrent commits of distinct keys to one session all survive",
            { store in
                let manager = SessionManager(store: store, configuration: SessionConfiguration(maxDataKeys: 200), clock: FixedClock(date: t0))
                let first = try await manager.load(cookieValue: nil)
                first.setValue("0", forKey: "seed")
                guard case .set(let id, _) = try await manager.commit(first) else {
                    throw ConformanceFailure(description: "lazy creation did not set a cookie")
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<100 {
                        group.addTask {
                            let session = try await manager.load(cookieValue: id)
                            session.setValue("\(i)", forKey: "k\(i)")
                            _ = try await manager.commit(session)
                        }
                    }
                    try await group.waitForAll()
                }
                let final = try await manager.load(cookieValue: id)
                var missing: [Int] = []
                for index in 0..<100 where final.value(forKey: "k" + String(index)) != String(index) { missing.append(index) }
                try expect(missing.isEmpty, "lost writes for keys \(missing)")
            }
        ),
        (
            "ping answers",
            { store in
                try await store.ping()
            }
        ),
    ]
}

/// A clock that never moves.
struct FixedClock: CloakroomClock {
    let date: Date
    func now() -> Date { date }
}

import CloakroomCore
public import CloakroomTokens
import Foundation

/// The behaviour every `TokenStore` must show, run against a real backend; used like
/// `SessionStoreConformance`: `try await TokenStoreConformance.run(only: [name]) { makeEmptyStore() }`.
public enum TokenStoreConformance {
    /// A rule the store broke (the type both suites share).
    public typealias ConformanceFailure = CloakroomTesting.ConformanceFailure

    /// The names of every check, in order.
    public static let checkNames: [String] = suite.names

    /// Runs every check (or those named in `only`) against fresh stores from `makeStore`.
    public static func run(only: Set<String>? = nil, makeStore: @Sendable () async throws -> any TokenStore) async throws {
        try await suite.run(only: only, makeStore: makeStore)
    }

    static let suite = ConformanceChecks<any TokenStore>(checks: checks)

    static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

    static func token(
        _ name: String,
        family: String = "fam-1",
        user: String = "user-1",
        issued: Date = t0,
        lifetime: TimeInterval = 3600,
        familyLifetime: TimeInterval = 86_400
    ) -> RefreshTokenRecord {
        RefreshTokenRecord(
            key: key(name, user: user),
            familyID: self.family(family, user: user),
            userID: user,
            clientID: "cloakroom-cli",
            scope: "openid profile ✓",
            issuedAt: issued,
            expiresAt: issued.addingTimeInterval(lifetime),
            familyExpiresAt: issued.addingTimeInterval(familyLifetime)
        )
    }

    /// The hashed key of token `name`, tagged for its user (see `KeyTag`) as `TokenService` makes
    /// it for a store that shards by key; any store takes it.
    static func key(_ name: String, user: String = "user-1") -> String {
        KeyTag(user: user).hex + SecureToken.hash(name).dropFirst(4)
    }

    /// A family ID tagged for its user, as `TokenService` makes it for a store that shards by key.
    static func family(_ name: String, user: String = "user-1") -> String {
        KeyTag(user: user).prefixing(name)
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        try ConformanceChecks<any TokenStore>.expect(condition, message())
    }

    static func ms(_ date: Date?) -> Int64? { date.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } }

    /// Equal up to millisecond precision of the times.
    static func same(_ a: RefreshTokenRecord?, _ b: RefreshTokenRecord?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        return a.key == b.key && a.familyID == b.familyID && a.userID == b.userID && a.clientID == b.clientID
            && a.scope == b.scope && ms(a.issuedAt) == ms(b.issuedAt) && ms(a.expiresAt) == ms(b.expiresAt)
            && ms(a.familyExpiresAt) == ms(b.familyExpiresAt) && ms(a.usedAt) == ms(b.usedAt)
    }

    typealias Check = @Sendable (any TokenStore) async throws -> Void

    static let checks: [(String, Check)] = [
        (
            "missing token loads nil and does not rotate",
            { store in
                let missing = key("nobody")
                try expect(try await store.refreshToken(key: missing, now: t0) == nil, "expected nil for a key never inserted")
                let outcome = try await store.rotateRefreshToken(key: missing, newKey: key("n2"), now: t0, lifetime: 60)
                try expect(outcome == .invalid, "rotating a missing token gave \(outcome)")
                try expect(try await store.refreshToken(key: key("n2"), now: t0) == nil, "a failed rotation stored a successor")
            }
        ),
        (
            "insert then load round-trips every field",
            { store in
                let record = token("a")
                try await store.insertRefreshToken(record)
                let loaded = try await store.refreshToken(key: record.key, now: t0.addingTimeInterval(1))
                try expect(same(loaded, record), "loaded \(String(describing: loaded)) != inserted \(record)")
            }
        ),
        (
            "duplicate insert is refused",
            { store in
                let record = token("dup")
                try await store.insertRefreshToken(record)
                do {
                    try await store.insertRefreshToken(record)
                    throw ConformanceFailure(description: "second insert of the same key succeeded")
                } catch let error as StoreError {
                    try expect(error.isDuplicateKey, "expected duplicateKey, got \(error)")
                }
            }
        ),
        (
            "expired token is invisible and does not rotate",
            { store in
                let record = token("old", lifetime: 60)
                try await store.insertRefreshToken(record)
                let later = t0.addingTimeInterval(60)
                try expect(try await store.refreshToken(key: record.key, now: later) == nil, "expired token was returned")
                let outcome = try await store.rotateRefreshToken(key: record.key, newKey: key("old2"), now: later, lifetime: 60)
                try expect(outcome == .invalid, "rotating an expired token gave \(outcome)")
            }
        ),
        (
            "rotation marks the token used and stores its successor",
            { store in
                let first = token("r1")
                try await store.insertRefreshToken(first)
                let now = t0.addingTimeInterval(100)
                let outcome = try await store.rotateRefreshToken(key: first.key, newKey: key("r2"), now: now, lifetime: 600)
                guard case .rotated(let successor) = outcome else {
                    throw ConformanceFailure(description: "expected rotated, got \(outcome)")
                }
                let expected = RefreshTokenRecord(
                    key: key("r2"),
                    familyID: first.familyID,
                    userID: first.userID,
                    clientID: first.clientID,
                    scope: first.scope,
                    issuedAt: now,
                    expiresAt: now.addingTimeInterval(600),
                    familyExpiresAt: first.familyExpiresAt
                )
                try expect(same(successor, expected), "successor \(successor) != \(expected)")
                let stored = try await store.refreshToken(key: successor.key, now: now)
                try expect(same(stored, expected), "stored successor \(String(describing: stored)) != \(expected)")
                let old = try await store.refreshToken(key: first.key, now: now)
                try expect(ms(old?.usedAt) == ms(now), "the rotated token's usedAt is \(String(describing: old?.usedAt)), expected \(now)")
            }
        ),
        (
            "successor never outlives its family",
            { store in
                let first = token("cap", lifetime: 7200, familyLifetime: 7200)
                try await store.insertRefreshToken(first)
                let now = t0.addingTimeInterval(7000)
                let outcome = try await store.rotateRefreshToken(key: first.key, newKey: key("cap2"), now: now, lifetime: 3600)
                guard case .rotated(let successor) = outcome else {
                    throw ConformanceFailure(description: "expected rotated, got \(outcome)")
                }
                try expect(
                    ms(successor.expiresAt) == ms(first.familyExpiresAt),
                    "successor expires \(successor.expiresAt), family ends \(first.familyExpiresAt)"
                )
            }
        ),
        (
            "rotating onto a taken key is refused and leaves the token live",
            { store in
                let first = token("k1", family: "fam-k1")
                let other = token("k2", family: "fam-k2")
                try await store.insertRefreshToken(first)
                try await store.insertRefreshToken(other)
                let now = t0.addingTimeInterval(1)
                do {
                    let outcome = try await store.rotateRefreshToken(key: first.key, newKey: other.key, now: now, lifetime: 600)
                    throw ConformanceFailure(description: "rotating onto an existing key gave \(outcome)")
                } catch let error as StoreError {
                    try expect(error.isDuplicateKey, "expected duplicateKey, got \(error)")
                }
                let after = try await store.refreshToken(key: first.key, now: now)
                try expect(after != nil && after?.usedAt == nil, "a refused rotation changed the token: \(String(describing: after))")
                try expect(same(try await store.refreshToken(key: other.key, now: now), other), "a refused rotation changed the other token")
                let retry = try await store.rotateRefreshToken(key: first.key, newKey: key("k3"), now: now, lifetime: 600)
                guard case .rotated = retry else { throw ConformanceFailure(description: "rotation after a refused one gave \(retry)") }
            }
        ),
        (
            "an expired used token is invalid, not reuse",
            { store in
                let first = token("x1", family: "fam-x", lifetime: 60)
                try await store.insertRefreshToken(first)
                _ = try await store.rotateRefreshToken(key: first.key, newKey: key("x2"), now: t0.addingTimeInterval(1), lifetime: 600)
                let late = t0.addingTimeInterval(60)
                let outcome = try await store.rotateRefreshToken(key: first.key, newKey: key("x3"), now: late, lifetime: 600)
                try expect(outcome == .invalid, "rotating an expired used token gave \(outcome)")
                try expect(try await store.refreshToken(key: key("x2"), now: late) != nil, "the family was revoked by an expired token")
            }
        ),
        (
            "reusing a used token revokes the whole family",
            { store in
                let first = token("u1", family: "fam-reuse")
                let bystander = token("other", family: "fam-other")
                try await store.insertRefreshToken(first)
                try await store.insertRefreshToken(bystander)
                _ = try await store.rotateRefreshToken(key: first.key, newKey: key("u2"), now: t0.addingTimeInterval(1), lifetime: 600)
                _ = try await store.rotateRefreshToken(
                    key: key("u2"),
                    newKey: key("u3"),
                    now: t0.addingTimeInterval(2),
                    lifetime: 600
                )
                let outcome = try await store.rotateRefreshToken(
                    key: first.key,
                    newKey: key("evil"),
                    now: t0.addingTimeInterval(3),
                    lifetime: 600
                )
                guard case .reused(let reused) = outcome else {
                    throw ConformanceFailure(description: "expected reused, got \(outcome)")
                }
                try expect(reused.key == first.key && reused.familyID == first.familyID, "reused names \(reused)")
                let now = t0.addingTimeInterval(4)
                for name in ["u1", "u2", "u3", "evil"] {
                    try expect(try await store.refreshToken(key: key(name), now: now) == nil, "token \(name) survived reuse")
                }
                let last = try await store.rotateRefreshToken(key: key("u3"), newKey: key("u4"), now: now, lifetime: 600)
                try expect(last == .invalid, "the family's newest token still rotates after reuse: \(last)")
                try expect(try await store.refreshToken(key: bystander.key, now: now) != nil, "another family was revoked too")
            }
        ),
        (
            "concurrent rotations of one token: exactly one wins, the family dies",
            { store in
                let first = token("race", family: "fam-race")
                try await store.insertRefreshToken(first)
                let outcomes = try await withThrowingTaskGroup(of: RefreshRotation.self) { group in
                    for i in 0..<12 {
                        group.addTask {
                            try await store.rotateRefreshToken(
                                key: first.key,
                                newKey: key("race-\(i)"),
                                now: t0.addingTimeInterval(5),
                                lifetime: 600
                            )
                        }
                    }
                    var all: [RefreshRotation] = []
                    for try await outcome in group { all.append(outcome) }
                    return all
                }
                let winners = outcomes.compactMap { if case .rotated(let s) = $0 { s } else { nil } }
                let reuses = outcomes.filter { if case .reused = $0 { true } else { false } }
                try expect(winners.count == 1, "\(winners.count) rotations won: \(outcomes)")
                try expect(!reuses.isEmpty, "no rotation saw the reuse: \(outcomes)")
                if let winner = winners.first {
                    try expect(
                        try await store.refreshToken(key: winner.key, now: t0.addingTimeInterval(6)) == nil,
                        "the winner's successor survived the reuse"
                    )
                }
            }
        ),
        (
            "revoke one family",
            { store in
                try await store.insertRefreshToken(token("f1", family: "fam-a"))
                _ = try await store.rotateRefreshToken(
                    key: key("f1"),
                    newKey: key("f2"),
                    now: t0.addingTimeInterval(1),
                    lifetime: 600
                )
                try await store.insertRefreshToken(token("g1", family: "fam-b"))
                let removed = try await store.revokeFamily(family("fam-a"))
                try expect(removed == 2, "revokeFamily removed \(removed), expected 2")
                let now = t0.addingTimeInterval(2)
                try expect(try await store.refreshToken(key: key("f2"), now: now) == nil, "revoked family's token survived")
                try expect(try await store.refreshToken(key: key("g1"), now: now) != nil, "another family was revoked")
                try expect(try await store.revokeFamily(family("fam-a")) == 0, "revoking twice removed something")
            }
        ),
        (
            "a user's tokens are listed: every family, used and live, not expired, not revoked, not another user's",
            { store in
                try await store.insertRefreshToken(token("l1", family: "fam-l1", user: "alice"))
                _ = try await store.rotateRefreshToken(
                    key: key("l1", user: "alice"),
                    newKey: key("l2", user: "alice"),
                    now: t0.addingTimeInterval(1),
                    lifetime: 600
                )
                try await store.insertRefreshToken(token("m1", family: "fam-m1", user: "alice"))
                try await store.insertRefreshToken(token("short", family: "fam-short", user: "alice", lifetime: 5))
                try await store.insertRefreshToken(token("gone", family: "fam-gone", user: "alice"))
                _ = try await store.revokeFamily(family("fam-gone", user: "alice"))
                try await store.insertRefreshToken(token("b1", family: "fam-b1", user: "bob"))
                let listed = try await store.refreshTokens(forUser: "alice", now: t0.addingTimeInterval(10))
                let names = Set(listed.map(\.key))
                let expected: Set = [key("l1", user: "alice"), key("l2", user: "alice"), key("m1", user: "alice")]
                try expect(names == expected, "listed \(listed.count) tokens: \(names.sorted()), expected l1 (used), l2, m1")
                let used = listed.first { $0.key == key("l1", user: "alice") }
                try expect(used?.usedAt != nil, "the rotated token is not listed as used")
                let live = listed.first { $0.key == key("l2", user: "alice") }
                try expect(live?.usedAt == nil && live?.familyID == family("fam-l1", user: "alice"), "the successor is not the family's live token")
                try expect(
                    same(listed.first { $0.key == key("m1", user: "alice") }, token("m1", family: "fam-m1", user: "alice")),
                    "fields changed in the listing"
                )
                try expect(try await store.refreshTokens(forUser: "carol", now: t0).isEmpty, "a user with no tokens lists some")
            }
        ),
        (
            "revoke every token of one user",
            { store in
                try await store.insertRefreshToken(token("p1", family: "fam-p1", user: "alice"))
                try await store.insertRefreshToken(token("p2", family: "fam-p2", user: "alice"))
                try await store.insertRefreshToken(token("q1", family: "fam-q1", user: "bob"))
                let removed = try await store.revokeRefreshTokens(forUser: "alice")
                try expect(removed == 2, "removed \(removed), expected 2")
                try expect(try await store.refreshToken(key: key("p1", user: "alice"), now: t0) == nil, "alice's token survived")
                try expect(try await store.refreshToken(key: key("p2", user: "alice"), now: t0) == nil, "alice's token survived")
                try expect(try await store.refreshToken(key: key("q1", user: "bob"), now: t0) != nil, "bob's token was revoked")
                // A new family for alice after the revocation works.
                try await store.insertRefreshToken(token("p3", family: "fam-p3", user: "alice"))
                try expect(try await store.refreshToken(key: key("p3", user: "alice"), now: t0) != nil, "new family after revocation missing")
            }
        ),
        (
            "epochs only rise and expire",
            { store in
                var state = try await store.revocationState(userID: "carol", tokenID: "jti-0", sessionID: nil, now: t0)
                try expect(state == RevocationState(epoch: 0, denied: false), "fresh state \(state)")
                try await store.raiseEpoch(forUser: "carol", to: 1_767_225_600_500, keepUntil: t0.addingTimeInterval(700))
                state = try await store.revocationState(userID: "carol", tokenID: "jti-0", sessionID: nil, now: t0.addingTimeInterval(1))
                try expect(state.epoch == 1_767_225_600_500, "epoch \(state.epoch) after raise")
                try await store.raiseEpoch(forUser: "carol", to: 7, keepUntil: t0.addingTimeInterval(900))
                state = try await store.revocationState(userID: "carol", tokenID: "jti-0", sessionID: nil, now: t0.addingTimeInterval(800))
                try expect(state.epoch == 1_767_225_600_500, "a lower raise changed the epoch or did not extend it: \(state.epoch)")
                let other = try await store.revocationState(userID: "dave", tokenID: "jti-0", sessionID: nil, now: t0.addingTimeInterval(1))
                try expect(other.epoch == 0, "another user's epoch is \(other.epoch)")
                state = try await store.revocationState(userID: "carol", tokenID: "jti-0", sessionID: nil, now: t0.addingTimeInterval(900))
                try expect(state.epoch == 0, "expired epoch still read \(state.epoch)")
            }
        ),
        (
            "denied token IDs until their expiry",
            { store in
                try await store.denyTokenID("jti-1", until: t0.addingTimeInterval(60))
                var state = try await store.revocationState(userID: "erin", tokenID: "jti-1", sessionID: nil, now: t0)
                try expect(state.denied, "denied jti not reported")
                state = try await store.revocationState(userID: "erin", tokenID: "jti-2", sessionID: nil, now: t0)
                try expect(!state.denied, "another jti reported denied")
                state = try await store.revocationState(userID: "erin", tokenID: "jti-1", sessionID: nil, now: t0.addingTimeInterval(60))
                try expect(!state.denied, "deny-list entry outlived its expiry")
            }
        ),
        (
            "denied sign-ins (sid) until their expiry, read with the epoch and the jti",
            { store in
                try await store.raiseEpoch(forUser: "sam", to: 42, keepUntil: t0.addingTimeInterval(1000))
                try await store.denySession("fam-s1", until: t0.addingTimeInterval(60))
                var state = try await store.revocationState(userID: "sam", tokenID: "jti-s", sessionID: "fam-s1", now: t0)
                try expect(state == RevocationState(epoch: 42, denied: false, sessionDenied: true), "denied sign-in read \(state)")
                state = try await store.revocationState(userID: "sam", tokenID: "jti-s", sessionID: "fam-s2", now: t0)
                try expect(state == RevocationState(epoch: 42, denied: false, sessionDenied: false), "another sign-in read \(state)")
                state = try await store.revocationState(userID: "sam", tokenID: "jti-s", sessionID: nil, now: t0)
                try expect(!state.sessionDenied, "no sid reported denied: \(state)")
                // The two namespaces stay apart: a sid entry denies no jti of the same text, and back.
                state = try await store.revocationState(userID: "sam", tokenID: "fam-s1", sessionID: nil, now: t0)
                try expect(!state.denied, "a denied sign-in denied the jti with its family ID's text")
                try await store.denyTokenID("fam-s3", until: t0.addingTimeInterval(60))
                state = try await store.revocationState(userID: "sam", tokenID: "jti-s", sessionID: "fam-s3", now: t0)
                try expect(!state.sessionDenied, "a denied jti denied the sign-in with the same text")
                // Both at once, in one read.
                try await store.denyTokenID("jti-both", until: t0.addingTimeInterval(60))
                state = try await store.revocationState(userID: "sam", tokenID: "jti-both", sessionID: "fam-s1", now: t0)
                try expect(state == RevocationState(epoch: 42, denied: true, sessionDenied: true), "jti and sid both denied read \(state)")
                // A second deny with an earlier time does not shorten it; one with a later time extends it.
                try await store.denySession("fam-s1", until: t0.addingTimeInterval(30))
                state = try await store.revocationState(userID: "sam", tokenID: "jti-s", sessionID: "fam-s1", now: t0.addingTimeInterval(45))
                try expect(state.sessionDenied, "an earlier deny shortened the sign-in's entry")
                try await store.denySession("fam-s1", until: t0.addingTimeInterval(90))
                state = try await store.revocationState(userID: "sam", tokenID: "jti-s", sessionID: "fam-s1", now: t0.addingTimeInterval(60))
                try expect(state.sessionDenied, "a later deny did not extend the sign-in's entry")
                state = try await store.revocationState(userID: "sam", tokenID: "jti-s", sessionID: "fam-s1", now: t0.addingTimeInterval(90))
                try expect(!state.sessionDenied, "a denied sign-in outlived its expiry")
                // Swept like any deny-list entry: the sid entry and the two jti entries.
                let swept = try await store.deleteExpired(now: t0.addingTimeInterval(90), limit: 100)
                try expect(swept == 3, "deleteExpired removed \(swept) records, expected 3 deny-list entries")
                state = try await store.revocationState(userID: "sam", tokenID: "jti-s", sessionID: "fam-s1", now: t0.addingTimeInterval(90))
                try expect(state.epoch == 42, "a live epoch was swept")
            }
        ),
        (
            "deleteExpired removes only expired records, in batches",
            { store in
                for i in 0..<5 {
                    try await store.insertRefreshToken(token("e\(i)", family: "fam-e\(i)", lifetime: 10))
                }
                try await store.insertRefreshToken(token("live", family: "fam-live", lifetime: 1000))
                try await store.raiseEpoch(forUser: "frank", to: 3, keepUntil: t0.addingTimeInterval(10))
                try await store.denyTokenID("jti-x", until: t0.addingTimeInterval(10))
                try await store.denySession("fam-gone", until: t0.addingTimeInterval(10))
                try await store.denySession("fam-kept", until: t0.addingTimeInterval(1000))
                try await store.raiseEpoch(forUser: "gina", to: 4, keepUntil: t0.addingTimeInterval(1000))
                let now = t0.addingTimeInterval(20)
                let first = try await store.deleteExpired(now: now, limit: 3)
                try expect(first == 3, "first batch removed \(first), expected 3 (limit)")
                var total = first
                while true {
                    let removed = try await store.deleteExpired(now: now, limit: 3)
                    if removed == 0 { break }
                    total += removed
                    try expect(total <= 8, "removed \(total) records, only 8 were expired")
                }
                try expect(total == 8, "removed \(total) records in all, expected 8")
                try expect(try await store.refreshToken(key: key("live"), now: now) != nil, "a live token was swept")
                let gina = try await store.revocationState(userID: "gina", tokenID: "jti-x", sessionID: "fam-kept", now: now)
                try expect(gina.epoch == 4, "a live epoch was swept")
                try expect(gina.sessionDenied, "a live denied sign-in was swept")
            }
        ),
    ]
}

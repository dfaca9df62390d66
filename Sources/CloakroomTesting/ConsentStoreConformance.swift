import CloakroomCore
public import CloakroomOAuth
import Foundation

/// The behaviour every `ConsentStore` must show, run against a real backend:
/// `try await ConsentStoreConformance.run(only: [name]) { makeEmptyStore() }`.
public enum ConsentStoreConformance {
    /// The names of every check, in order.
    public static let checkNames: [String] = suite.names

    /// Runs every check (or those named in `only`) against fresh stores from `makeStore`.
    public static func run(only: Set<String>? = nil, makeStore: @Sendable () async throws -> any ConsentStore) async throws {
        try await suite.run(only: only, makeStore: makeStore)
    }

    static let suite = ConformanceChecks<any ConsentStore>(checks: checks)

    static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

    static func consent(_ user: String, _ client: String, _ scope: [String], at seconds: Double = 0) -> Consent {
        Consent(userID: user, clientID: client, scope: Scope(scope), grantedAt: t0.addingTimeInterval(seconds))
    }

    /// Equal up to millisecond precision of the time.
    static func same(_ a: Consent?, _ b: Consent?) -> Bool {
        guard var a, let b else { return a == nil && b == nil }
        guard abs(a.grantedAt.timeIntervalSince(b.grantedAt)) < 0.001 else { return false }
        a.grantedAt = b.grantedAt
        return a == b
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        try ConformanceChecks<any ConsentStore>.expect(condition, message())
    }

    typealias Check = @Sendable (any ConsentStore) async throws -> Void

    static let checks: [(String, Check)] = [
        (
            "no consent is nil; revoking none says so; a fresh user lists none",
            { store in
                try expect(try await store.consent(userID: "u1", clientID: "c1") == nil, "expected nil for a consent never recorded")
                try expect(try await store.revoke(userID: "u1", clientID: "c1") == false, "revoke of a missing consent said it existed")
                try expect(try await store.consents(ofUser: "u1").isEmpty, "a fresh store lists consents")
                try expect(try await store.revokeAll(clientID: "c1") == 0, "revokeAll on a fresh store counted some")
            }
        ),
        (
            "record then load round-trips user, client, scopes and time; a second record replaces the first",
            { store in
                let first = consent("u1", "c1", ["openid", "profile", "orders:read"], at: 1.5)
                try await store.record(first)
                let loaded = try await store.consent(userID: "u1", clientID: "c1")
                try expect(same(loaded, first), "loaded \(String(describing: loaded)) != recorded \(first)")
                let wider = consent("u1", "c1", ["openid", "profile", "email", "orders:read"], at: 60)
                try await store.record(wider)
                let replaced = try await store.consent(userID: "u1", clientID: "c1")
                try expect(same(replaced, wider), "after a second record loaded \(String(describing: replaced)) != \(wider)")
                try expect(try await store.consents(ofUser: "u1").count == 1, "a second record for the same pair added a row")
            }
        ),
        (
            "consents are per user and per client; the listing is most recent first",
            { store in
                try await store.record(consent("u1", "c1", ["openid"], at: 10))
                try await store.record(consent("u1", "c2", ["openid", "email"], at: 30))
                try await store.record(consent("u1", "c3", ["profile"], at: 20))
                try await store.record(consent("u2", "c1", ["openid", "profile"], at: 40))
                let listed = try await store.consents(ofUser: "u1").map(\.clientID)
                try expect(listed == ["c2", "c3", "c1"], "u1's consents: \(listed)")
                try expect(try await store.consent(userID: "u2", clientID: "c2") == nil, "u2 has u1's consent to c2")
                try expect(
                    try await store.consent(userID: "u2", clientID: "c1")?.scope == Scope(["openid", "profile"]),
                    "u2's consent to c1 has the wrong scopes"
                )
            }
        ),
        (
            "revoke withdraws one consent; revokeAll every consent to one client",
            { store in
                try await store.record(consent("u1", "c1", ["openid"]))
                try await store.record(consent("u1", "c2", ["openid"]))
                try await store.record(consent("u2", "c1", ["openid"]))
                try await store.record(consent("u3", "c1", ["openid"]))
                try expect(try await store.revoke(userID: "u1", clientID: "c1"), "revoke of an existing consent said there was none")
                try expect(try await store.consent(userID: "u1", clientID: "c1") == nil, "a revoked consent still loads")
                try expect(try await store.consent(userID: "u1", clientID: "c2") != nil, "revoke took the user's other consent too")
                try expect(try await store.revokeAll(clientID: "c1") == 2, "revokeAll(c1) should count u2's and u3's consents")
                try expect(try await store.consent(userID: "u2", clientID: "c1") == nil, "revokeAll left a consent to the client")
                try expect(try await store.consents(ofUser: "u1").map(\.clientID) == ["c2"], "revokeAll(c1) touched c2")
            }
        ),
    ]
}

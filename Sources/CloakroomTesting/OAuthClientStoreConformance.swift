import CloakroomCore
public import CloakroomOAuth
import Foundation

/// The behaviour every `OAuthClientStore` must show, run against a real backend:
/// `try await OAuthClientStoreConformance.run(only: [name]) { makeEmptyStore() }`.
public enum OAuthClientStoreConformance {
    /// The names of every check, in order.
    public static let checkNames: [String] = suite.names

    /// Runs every check (or those named in `only`) against fresh stores from `makeStore`.
    public static func run(only: Set<String>? = nil, makeStore: @Sendable () async throws -> any OAuthClientStore) async throws {
        try await suite.run(only: only, makeStore: makeStore)
    }

    static let suite = ConformanceChecks<any OAuthClientStore>(checks: checks)

    static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

    static func client(_ id: String, created: Date = t0, public isPublic: Bool = false) -> OAuthClient {
        OAuthClient(
            id: id,
            name: "Client \(id) ✓",
            secretHash: isPublic ? nil : SecureToken.hash("secret-\(id)"),
            redirectURIs: ["https://\(id).example/callback", "http://127.0.0.1/cb?x=1&y=%20"],
            postLogoutRedirectURIs: ["https://\(id).example/bye"],
            scopes: Scope(["openid", "profile", "orders:read"]),
            backchannelLogoutURI: isPublic ? nil : "https://\(id).example/backchannel",
            createdAt: created,
            secretRotatedAt: nil
        )
    }

    static func ms(_ date: Date?) -> Int64? { date.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } }

    /// Equal up to millisecond precision of the times.
    static func same(_ a: OAuthClient?, _ b: OAuthClient?) -> Bool {
        guard var a, let b else { return a == nil && b == nil }
        guard ms(a.createdAt) == ms(b.createdAt), ms(a.secretRotatedAt) == ms(b.secretRotatedAt) else { return false }
        a.createdAt = b.createdAt
        a.secretRotatedAt = b.secretRotatedAt
        return a == b
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        try ConformanceChecks<any OAuthClientStore>.expect(condition, message())
    }

    typealias Check = @Sendable (any OAuthClientStore) async throws -> Void

    static let checks: [(String, Check)] = [
        (
            "an unknown client is nil; update and delete say there was none",
            { store in
                try expect(try await store.client(id: "nobody") == nil, "expected nil for an ID never inserted")
                try expect(try await store.update(client("nobody")) == false, "update of a missing client said it existed")
                try expect(try await store.client(id: "nobody") == nil, "update created a client")
                try expect(try await store.delete(id: "nobody") == false, "delete of a missing client said it existed")
                try expect(try await store.all().isEmpty, "a fresh store lists clients")
            }
        ),
        (
            "insert then load round-trips every field, confidential and public",
            { store in
                let confidential = client("app-1")
                let open = client("spa-1", public: true)
                try await store.insert(confidential)
                try await store.insert(open)
                let loaded = try await store.client(id: "app-1")
                try expect(same(loaded, confidential), "loaded \(String(describing: loaded)) != inserted \(confidential)")
                let loadedPublic = try await store.client(id: "spa-1")
                try expect(same(loadedPublic, open), "loaded \(String(describing: loadedPublic)) != inserted \(open)")
                try expect(loadedPublic?.isPublic == true && loaded?.isPublic == false, "public and confidential swapped")
                try expect(loaded?.verifySecret("secret-app-1") == true, "the stored hash does not verify its secret")
            }
        ),
        (
            "an ID in use is refused and the first client is kept",
            { store in
                try await store.insert(client("dup"))
                var other = client("dup")
                other.name = "Impostor"
                do {
                    try await store.insert(other)
                    throw ConformanceFailure(description: "a second insert with the same ID succeeded")
                } catch let error as StoreError {
                    try expect(error.isDuplicateKey, "expected duplicateKey, got \(error)")
                }
                try expect(try await store.client(id: "dup")?.name == "Client dup ✓", "the first client was replaced")
            }
        ),
        (
            "update replaces every field (a rotated secret, new URIs and scopes)",
            { store in
                try await store.insert(client("upd"))
                var changed = client("upd")
                changed.name = "Renamed"
                changed.secretHash = SecureToken.hash("new secret")
                changed.secretRotatedAt = t0.addingTimeInterval(3600)
                changed.redirectURIs = ["https://new.example/cb"]
                changed.postLogoutRedirectURIs = []
                changed.scopes = Scope(["openid"])
                changed.backchannelLogoutURI = nil
                try expect(try await store.update(changed), "update of an existing client said there was none")
                let loaded = try await store.client(id: "upd")
                try expect(same(loaded, changed), "after update loaded \(String(describing: loaded)) != \(changed)")
                try expect(loaded?.verifySecret("secret-upd") == false, "the old secret still verifies")
                try expect(loaded?.verifySecret("new secret") == true, "the new secret does not verify")
            }
        ),
        (
            "delete removes one client; all lists the rest oldest first",
            { store in
                for (index, id) in ["c-3", "c-1", "c-2"].enumerated() {
                    try await store.insert(client(id, created: t0.addingTimeInterval(Double([30, 10, 20][index]))))
                }
                try expect(try await store.all().map(\.id) == ["c-1", "c-2", "c-3"], "all() is not oldest first")
                try expect(try await store.delete(id: "c-2"), "delete of an existing client said there was none")
                try expect(try await store.client(id: "c-2") == nil, "a deleted client still loads")
                let left = try await store.all().map(\.id)
                try expect(left == ["c-1", "c-3"], "all() after delete: \(left)")
            }
        ),
    ]
}

import CloakroomCore
public import CloakroomOAuth
import Foundation

/// The behaviour every `FederatedIdentityStore` must show, run against a real backend.
public enum FederatedIdentityStoreConformance {
    /// The names of every check, in order.
    public static let checkNames: [String] = suite.names

    /// Runs every check (or those named in `only`) against fresh stores from `makeStore`.
    public static func run(only: Set<String>? = nil, makeStore: @Sendable () async throws -> any FederatedIdentityStore) async throws {
        try await suite.run(only: only, makeStore: makeStore)
    }

    static let suite = ConformanceChecks<any FederatedIdentityStore>(checks: checks)

    static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

    static func identity(_ provider: String, _ subject: String, _ user: String, at seconds: Double = 0) -> FederatedIdentity {
        FederatedIdentity(provider: provider, subject: subject, userID: user, linkedAt: t0.addingTimeInterval(seconds))
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        try ConformanceChecks<any FederatedIdentityStore>.expect(condition, message())
    }

    typealias Check = @Sendable (any FederatedIdentityStore) async throws -> Void

    static let checks: [(String, Check)] = [
        (
            "an unknown subject is nil; a fresh user has no links; unlinking none says so",
            { store in
                try expect(try await store.identity(provider: "p", subject: "s") == nil, "expected nil for a subject never linked")
                try expect(try await store.identities(ofUser: "u").isEmpty, "a fresh store lists links")
                try expect(try await store.unlink(provider: "p", userID: "u") == false, "unlink of a missing link said it existed")
            }
        ),
        (
            "link then look up by provider and subject; the subject is per provider; a second link of it is refused",
            { store in
                try await store.link(identity("google", "sub-1", "u1", at: 1.5))
                let found = try await store.identity(provider: "google", subject: "sub-1")
                try expect(found?.userID == "u1" && found?.provider == "google" && found?.subject == "sub-1", "loaded \(String(describing: found))")
                try expect(abs((found?.linkedAt.timeIntervalSince(t0) ?? 0) - 1.5) < 0.001, "linkedAt was not kept")
                try expect(try await store.identity(provider: "github", subject: "sub-1") == nil, "the subject leaked to another provider")
                try expect(try await store.identity(provider: "google", subject: "SUB-1") == nil, "subjects are compared exactly")
                do {
                    try await store.link(identity("google", "sub-1", "u2"))
                    throw ConformanceFailure(description: "a second link of the same subject succeeded")
                } catch let error as StoreError {
                    try expect(error.isDuplicateKey, "expected duplicateKey, got \(error)")
                }
                try expect(try await store.identity(provider: "google", subject: "sub-1")?.userID == "u1", "the first link was replaced")
            }
        ),
        (
            "a user's links, oldest first; unlink removes one provider's",
            { store in
                try await store.link(identity("github", "g-1", "u1", at: 20))
                try await store.link(identity("google", "s-1", "u1", at: 10))
                try await store.link(identity("google", "s-2", "u2", at: 5))
                try expect(try await store.identities(ofUser: "u1").map(\.provider) == ["google", "github"], "u1's links are not oldest first")
                try expect(try await store.unlink(provider: "google", userID: "u1"), "unlink of an existing link said there was none")
                try expect(try await store.identity(provider: "google", subject: "s-1") == nil, "an unlinked subject still resolves")
                try expect(try await store.identities(ofUser: "u1").map(\.subject) == ["g-1"], "unlink took the other provider too")
                try expect(try await store.identity(provider: "google", subject: "s-2")?.userID == "u2", "unlink touched another user")
            }
        ),
    ]
}

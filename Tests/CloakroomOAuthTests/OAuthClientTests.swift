import CloakroomCore
import CloakroomOAuth
import CloakroomTesting
import Foundation
import Testing

/// Client registration, secrets and scopes; the store contract on the memory store.
@Suite("OAuth clients")
struct OAuthClientTests {
    static let now = Date(timeIntervalSince1970: 1_767_225_600)

    @Test("a confidential client gets a 256-bit secret kept only as its SHA-256; a public one gets none")
    func secrets() throws {
        let (client, secret) = try OAuthClient.register(
            name: "Orders",
            redirectURIs: ["https://orders.example/cb"],
            isPublic: false,
            now: Self.now
        )
        let shown = try #require(secret)
        #expect(Base64URL.decodeCanonical(shown)?.count == 32)
        #expect(client.secretHash == SecureToken.hash(shown) && client.secretHash != shown)
        #expect(client.verifySecret(shown))
        #expect(!client.verifySecret(shown + "x") && !client.verifySecret(""))
        #expect(Base64URL.decodeCanonical(client.id)?.count == 16)
        #expect(!(try client.document()).contains(shown), "the secret itself was stored")

        let (spa, none) = try OAuthClient.register(name: "SPA", redirectURIs: ["http://127.0.0.1/cb"], isPublic: true, now: Self.now)
        #expect(none == nil && spa.isPublic && spa.secretHash == nil && !spa.verifySecret(""))
        #expect(spa.scopes == OAuthClient.defaultScopes)
    }

    @Test("registration refuses a bad name, ID, redirect URI, logout URI or an empty scope, saying which")
    func registrationRefused() {
        let cases: [(String, String?, [String], [String], Scope, String)] = [
            ("", nil, ["https://a.example/cb"], [], OAuthClient.defaultScopes, "client name"),
            ("x", "a b", ["https://a.example/cb"], [], OAuthClient.defaultScopes, "client ID"),
            ("x", "ab", ["https://a.example/cb"], [], OAuthClient.defaultScopes, "client ID"),
            ("x", nil, [], [], OAuthClient.defaultScopes, "at least one redirect URI"),
            ("x", nil, ["http://a.example/cb"], [], OAuthClient.defaultScopes, "http is allowed only on loopback"),
            ("x", nil, ["https://a.example/cb"], ["https://a.example/bye#x"], OAuthClient.defaultScopes, "no fragment"),
            ("x", nil, ["https://a.example/cb"], [], Scope([]), "at least one scope"),
        ]
        for (name, id, redirects, logouts, scopes, reason) in cases {
            #expect {
                _ = try OAuthClient.register(
                    name: name,
                    id: id,
                    redirectURIs: redirects,
                    postLogoutRedirectURIs: logouts,
                    scopes: scopes,
                    isPublic: false,
                    now: Self.now
                )
            } throws: { error in
                (error as? OAuthClient.RegistrationProblem)?.description.contains(reason) == true
            }
        }
    }

    @Test("scopes parse as space-separated tokens; a double space, quote or backslash is refused")
    func scopes() throws {
        let scope = try Scope(parsing: "openid profile orders:read")
        #expect(scope.tokens == ["openid", "profile", "orders:read"] && scope.description == "openid orders:read profile")
        #expect(try Scope(parsing: "").isEmpty)
        #expect(try Scope(parsing: "openid").isSubset(of: scope) && !(try Scope(parsing: "openid admin").isSubset(of: scope)))
        for bad in ["openid  profile", " openid", "openid ", "a\"b", "a\\b", "é", "a\tb"] {
            #expect(throws: Scope.Problem.self, "\(bad)") { try Scope(parsing: bad) }
        }
    }

    @Test("memory store", arguments: OAuthClientStoreConformance.checkNames)
    func memory(_ check: String) async throws {
        try await OAuthClientStoreConformance.run(only: [check]) { MemoryOAuthClientStore() }
    }
}

@Suite("Consent store (memory)")
struct MemoryConsentStoreTests {
    @Test("memory store", arguments: ConsentStoreConformance.checkNames)
    func conformance(_ check: String) async throws {
        try await ConsentStoreConformance.run(only: [check]) { MemoryConsentStore() }
    }
}

@Suite("Federated identity store (memory)")
struct MemoryFederatedIdentityStoreTests {
    @Test("memory store", arguments: FederatedIdentityStoreConformance.checkNames)
    func conformance(_ check: String) async throws {
        try await FederatedIdentityStoreConformance.run(only: [check]) { MemoryFederatedIdentityStore() }
    }
}

import CloakroomCore
import CloakroomOAuth
import CloakroomTesting
import CloakroomTokens
import Foundation
import Testing

/// Authorization codes: sealed, single use through the token store, every redemption rule.
@Suite("Authorization codes")
struct AuthorizationCodeTests {
    struct Fixture {
        let clock = ManualClock()
        let codes: AuthorizationCodes
        let tokens: TokenService
        let request: AuthorizationRequest
        let verifier = String(repeating: "v", count: 43)

        init() async throws {
            let ring = TokenKeyRing(clock: clock)
            try await ring.generate()
            tokens = TokenService(
                issuer: AccessTokenIssuer(keyRing: ring, configuration: .init(issuer: "https://id.example"), clock: clock),
                verifier: TokenVerifier(
                    keys: ring,
                    configuration: .init(issuer: "https://id.example", audience: "https://api.example"),
                    clock: clock
                ),
                store: MemoryTokenStore(),
                configuration: .init(audience: "https://api.example")
            )
            codes = AuthorizationCodes(
                sealer: Sealer(ring: try SealingKeyRing(current: try .generate(id: "c1"))),
                tokens: tokens,
                clock: clock
            )
            let client = OAuthClient(
                id: "orders",
                name: "Orders",
                secretHash: nil,
                redirectURIs: ["https://orders.example/cb"],
                scopes: Scope(["openid", "orders:read"]),
                createdAt: clock.now()
            )
            let query = FormURLEncoded.encode([
                ("client_id", "orders"), ("redirect_uri", "https://orders.example/cb"), ("response_type", "code"),
                ("scope", "openid orders:read"), ("nonce", "n1"), ("code_challenge", PKCE.challenge(for: verifier)),
                ("code_challenge_method", "S256"),
            ])
            guard case .valid(let request) = try await AuthorizationRequest.check(query: query, lookup: { $0 == "orders" ? client : nil }) else {
                throw OAuthError.invalidRequest("fixture request refused")
            }
            self.request = request
        }

        func issue() async throws -> String {
            try await codes.issue(for: request, userID: "user-1", authTime: clock.now(), sessionHandle: "h1")
        }
    }

    @Test("a code is redeemed once for tokens carrying the user, client and scope; it holds what was approved")
    func redeem() async throws {
        let f = try await Fixture()
        let code = try await f.issue()
        #expect(!code.contains("user-1") && !code.contains("orders"), "the code's contents are encrypted")
        let redeemed = try await f.codes.redeem(code, clientID: "orders", redirectURI: "https://orders.example/cb", codeVerifier: f.verifier)
        #expect(redeemed.grant.userID == "user-1" && redeemed.grant.nonce == "n1" && redeemed.grant.sessionHandle == "h1")
        let claims = try await f.tokens.authenticate(redeemed.tokens.accessToken)
        #expect(claims.subject == "user-1" && claims.clientID == "orders" && redeemed.tokens.scope == "openid orders:read")
        // Its refresh token works (once).
        let next = try await f.tokens.refresh(redeemed.tokens.refreshToken, clientID: "orders")
        #expect(next.claims.subject == "user-1")
    }

    @Test("a second redemption is refused and revokes every token the first one issued")
    func reuse() async throws {
        let f = try await Fixture()
        let code = try await f.issue()
        let first = try await f.codes.redeem(code, clientID: "orders", redirectURI: "https://orders.example/cb", codeVerifier: f.verifier)
        let again = await refusal {
            _ = try await f.codes.redeem(code, clientID: "orders", redirectURI: "https://orders.example/cb", codeVerifier: f.verifier)
        }
        #expect(again?.hasPrefix("invalid_grant: the authorization code was already used") == true, "\(again ?? "accepted")")
        await #expect(throws: (any Error).self, "the first access token still works") {
            _ = try await f.tokens.authenticate(first.tokens.accessToken)
        }
        await #expect(throws: (any Error).self, "the first refresh token still works") {
            _ = try await f.tokens.refresh(first.tokens.refreshToken, clientID: "orders")
        }
    }

    @Test("another client, another or a missing redirect URI, a missing or wrong verifier: refused, and the code still works for its client")
    func wrongRedemptions() async throws {
        let f = try await Fixture()
        let code = try await f.issue()
        let cases: [(String, String?, String?, String)] = [
            ("intruder", "https://orders.example/cb", f.verifier, "issued to another client"),
            ("orders", "https://orders.example/cb/", f.verifier, "redirect_uri does not match"),
            ("orders", nil, f.verifier, "redirect_uri does not match"),
            ("orders", "https://orders.example/cb", nil, "code_verifier is required"),
            ("orders", "https://orders.example/cb", String(repeating: "w", count: 43), "does not match the code_challenge"),
            ("orders", "https://orders.example/cb", "short", "43 to 128"),
        ]
        for (client, redirect, verifier, expected) in cases {
            let reason = await refusal { _ = try await f.codes.redeem(code, clientID: client, redirectURI: redirect, codeVerifier: verifier) }
            #expect(reason?.hasPrefix("invalid_grant") == true && reason?.contains(expected) == true, "\(reason ?? "accepted") for \(expected)")
        }
        _ = try await f.codes.redeem(code, clientID: "orders", redirectURI: "https://orders.example/cb", codeVerifier: f.verifier)
    }

    @Test("a code past its 60 seconds, or altered, is refused")
    func expiredAndAltered() async throws {
        let f = try await Fixture()
        let code = try await f.issue()
        var altered = Array(code)
        altered[altered.count / 2] = altered[altered.count / 2] == "A" ? "B" : "A"
        let tampered = await refusal {
            _ = try await f.codes.redeem(String(altered), clientID: "orders", redirectURI: "https://orders.example/cb", codeVerifier: f.verifier)
        }
        #expect(tampered == "invalid_grant: the authorization code is invalid")
        f.clock.advance(by: 61)
        let late = await refusal {
            _ = try await f.codes.redeem(code, clientID: "orders", redirectURI: "https://orders.example/cb", codeVerifier: f.verifier)
        }
        #expect(late?.contains("has expired") == true, "\(late ?? "accepted")")
    }
}

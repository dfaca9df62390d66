import CloakroomCore
import CloakroomOAuth
import CloakroomTesting
import CloakroomTokens
import Crypto
import Foundation
import Synchronization
import Testing

/// The client side's checks of what a provider sends back. The provider here is a stand-in served
/// through the `Fetch` seam: the failures tested (a wrong nonce, audience, issuer, at_hash, a key
/// rotated away) cannot be produced by a correct provider. The flow against a real one is the
/// end-to-end test with two Cloakroom servers.
@Suite("OpenID relying party")
struct RelyingPartyTests {
    /// A provider that signs with `ring` and answers the token request with `tokenClaims`.
    final class FakeProvider: Sendable {
        let issuer = "https://op.example"
        let ring: TokenKeyRing
        /// The ID token's claims, as JSON.
        let claims = Mutex(Data("{}".utf8))
        let accessToken = "access-token-123"
        let jwksFetches = Mutex(0)
        let tokenRequests = Mutex<[String]>([])

        init(ring: TokenKeyRing) { self.ring = ring }

        func fetch(method: String, url: String, headers: [(String, String)], body: [UInt8]?) async throws -> (status: Int, body: [UInt8]) {
            switch url {
            case issuer + "/.well-known/openid-configuration":
                let document: [String: Any] = [
                    "issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
                    "jwks_uri": issuer + "/jwks", "authorization_response_iss_parameter_supported": true,
                ]
                return (200, Array(try JSONSerialization.data(withJSONObject: document)))
            case issuer + "/jwks":
                jwksFetches.withLock { $0 += 1 }
                return (200, Array(await ring.jwks().utf8))
            case issuer + "/token":
                tokenRequests.withLock { $0.append(String(decoding: body ?? [], as: UTF8.self)) }
                let payload = claims.withLock { $0 }
                let signed = try ring.signCompact(claims: payload, type: "JWT")
                let answer: [String: Any] = ["access_token": accessToken, "token_type": "Bearer", "id_token": signed.token]
                return (200, Array(try JSONSerialization.data(withJSONObject: answer)))
            default:
                return (404, [])
            }
        }
    }

    struct Fixture {
        let clock = ManualClock()
        let provider: FakeProvider
        let party: OpenIDRelyingParty
        let ring: TokenKeyRing

        init() async throws {
            ring = TokenKeyRing(configuration: .init(algorithm: .rs256), clock: clock)
            try await ring.generate()
            let fake = FakeProvider(ring: ring)
            provider = fake
            party = OpenIDRelyingParty(
                provider: .init(name: "op", issuer: "https://op.example", clientID: "me", clientSecret: "s3cret"),
                fetch: { try await fake.fetch(method: $0, url: $1, headers: $2, body: $3) },
                clock: clock
            )
        }

        /// Starts a sign-in, makes the provider answer with `claims` (defaults: a correct ID token),
        /// and finishes it with `query` overrides.
        func run(
            _ overrides: [String: Any] = [:],
            query extra: [String: String] = [:],
            drop: [String] = []
        ) async throws -> OpenIDRelyingParty.SignedIn {
            let (url, pending) = try await party.start(redirectURI: "https://rp.example/cb")
            #expect(url.hasPrefix("https://op.example/authorize?") && url.contains("code_challenge_method=S256"))
            let now = Int(clock.now().timeIntervalSince1970)
            var claims: [String: Any] = [
                "iss": "https://op.example", "sub": "user-7", "aud": "me", "exp": now + 300, "iat": now, "nonce": pending.nonce,
                "at_hash": IDTokenIssuer.accessTokenHash(provider.accessToken, algorithm: .rs256),
            ]
            for (name, value) in overrides { claims[name] = value }
            for name in drop { claims[name] = nil }
            let json = try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys)
            provider.claims.withLock { $0 = json }
            var query = ["code": "c-1", "state": pending.state, "iss": "https://op.example"]
            for (name, value) in extra { query[name] = value }
            return try await party.finish(query: query, pending: pending)
        }
    }

    @Test("a correct response signs in the provider's sub; the code is exchanged with the PKCE verifier")
    func success() async throws {
        let f = try await Fixture()
        let signedIn = try await f.run()
        #expect(signedIn.subject == "user-7" && signedIn.provider == "op")
        let request = try #require(f.provider.tokenRequests.withLock { $0.first })
        #expect(request.contains("code_verifier=") && request.contains("grant_type=authorization_code") && request.contains("code=c-1"))
    }

    @Test("refused: another nonce, audience, issuer, azp, at_hash; expired; state or iss of the response wrong; an error answer")
    func refusals() async throws {
        let f = try await Fixture()
        let now = Int(f.clock.now().timeIntervalSince1970)
        let cases: [(String, [String: Any], [String: String], [String])] = [
            ("nonce", ["nonce": "another"], [:], []),
            ("no nonce", [:], [:], ["nonce"]),
            ("audience", ["aud": "someone-else"], [:], []),
            ("azp", ["aud": ["me", "other"], "azp": "other"], [:], []),
            ("issuer", ["iss": "https://evil.example"], [:], []),
            ("at_hash", ["at_hash": "AAAAAAAAAAAAAAAAAAAAAA"], [:], []),
            ("expired", ["exp": now - 120], [:], []),
            ("state", [:], ["state": "forged"], []),
            ("iss of the response", [:], ["iss": "https://evil.example"], []),
            ("error", [:], ["error": "access_denied"], []),
        ]
        for (what, claims, query, drop) in cases {
            let failure = await refusal { _ = try await f.run(claims, query: query, drop: drop) }
            #expect(failure != nil, "\(what) was accepted")
        }
        // The iss parameter is required once the provider announces it.
        let (_, pending) = try await f.party.start(redirectURI: "https://rp.example/cb")
        let missing = await refusal { _ = try await f.party.finish(query: ["code": "c", "state": pending.state], pending: pending) }
        #expect(missing?.contains("iss") == true)
        // A sign-in left for over 10 minutes.
        let (_, old) = try await f.party.start(redirectURI: "https://rp.example/cb")
        f.clock.advance(by: 601)
        let late = await refusal {
            _ = try await f.party.finish(query: ["code": "c", "state": old.state, "iss": "https://op.example"], pending: old)
        }
        #expect(late?.contains("10 minutes") == true)
    }

    @Test("keys are cached, and fetched again once when the provider signs with a key we do not hold (rotation)")
    func rotation() async throws {
        let f = try await Fixture()
        _ = try await f.run()
        _ = try await f.run()
        #expect(f.provider.jwksFetches.withLock { $0 } == 1, "the JWK Set should be cached")
        // The provider rotates: a new key signs at once, the old one is gone from its set.
        let old = try #require(await f.ring.activeKey())
        try await f.ring.rotate(activateIn: 0)
        try await f.ring.remove(kid: old.kid)
        #expect(try await f.run().subject == "user-7")
        #expect(f.provider.jwksFetches.withLock { $0 } == 2, "an unknown kid should fetch the set once more")
    }
}

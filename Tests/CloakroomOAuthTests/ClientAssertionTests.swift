import CloakroomCore
import CloakroomOAuth
import CloakroomTesting
import CloakroomTokens
import Crypto
import Foundation
import Testing

/// `private_key_jwt` (RFC 7523, OpenID Connect Core §9): a client proves itself with a JWT signed
/// by a key it registered; every rule of the assertion, and its single use.
@Suite("Client assertions (private_key_jwt)")
struct ClientAssertionTests {
    struct Fixture {
        let clock = ManualClock()
        let provider: OAuthProvider
        let key = P256.Signing.PrivateKey()
        let stranger = P256.Signing.PrivateKey()

        init() async throws {
            let ring = TokenKeyRing(clock: clock)
            try await ring.generate()
            let idRing = TokenKeyRing(configuration: .init(algorithm: .rs256), clock: clock)
            try await idRing.generate()
            let tokens = TokenService(
                issuer: AccessTokenIssuer(keyRing: ring, configuration: .init(issuer: "https://id.example"), clock: clock),
                verifier: TokenVerifier(keys: ring, configuration: .init(issuer: "https://id.example", audience: "https://id.example"), clock: clock),
                store: MemoryTokenStore(),
                configuration: .init(audience: "https://id.example")
            )
            let clients = MemoryOAuthClientStore()
            provider = OAuthProvider(
                issuer: "https://id.example",
                clients: clients,
                consents: MemoryConsentStore(),
                codes: AuthorizationCodes(sealer: Sealer(ring: SealingKeyRing(.init(SymmetricKey(size: .bits256)))), tokens: tokens, clock: clock),
                tokens: tokens,
                idTokens: IDTokenIssuer(keyRing: idRing, issuer: "https://id.example", clock: clock),
                clock: clock
            )
            let raw = key.publicKey.rawRepresentation
            let jwks = """
                {"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k1","use":"sig","x":"\(Base64URL.encode(raw.prefix(32)))","y":"\(Base64URL.encode(raw.suffix(32)))"}]}
                """
            let registered = try OAuthClient.register(
                name: "Batch job",
                id: "batch",
                redirectURIs: ["https://batch.example/cb"],
                scopes: Scope(["reports:read"]),
                isPublic: false,
                jwks: jwks,
                now: clock.now()
            )
            #expect(registered.secret == nil && !registered.client.isPublic, "a client with keys gets no secret and is not public")
            try await clients.insert(registered.client)
        }

        /// An ES256 JWT over `claims`, signed by `signer` (the registered key unless another is given).
        func assertion(_ claims: [String: Any], signer: P256.Signing.PrivateKey? = nil, kid: String = "k1") throws -> String {
            let header = try JSONSerialization.data(withJSONObject: ["alg": "ES256", "kid": kid, "typ": "JWT"], options: .sortedKeys)
            let body = try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys)
            let input = Base64URL.encode(header) + "." + Base64URL.encode(body)
            let signature = try (signer ?? key).signature(for: Data(input.utf8)).rawRepresentation
            return input + "." + Base64URL.encode(signature)
        }

        func claims(_ overrides: [String: Any] = [:]) -> [String: Any] {
            let now = Int(clock.now().timeIntervalSince1970)
            var claims: [String: Any] = [
                "iss": "batch", "sub": "batch", "aud": "https://id.example/token", "exp": now + 60, "iat": now, "jti": UUID().uuidString,
            ]
            for (name, value) in overrides { claims[name] = value }
            return claims
        }

        func token(_ assertion: String, extra: [(String, String)] = [], authorization: String? = nil) async throws -> OAuthProvider.TokenResponse {
            let body = FormURLEncoded.encode(
                [("grant_type", "client_credentials"), ("client_assertion_type", ClientAuthentication.jwtBearer), ("client_assertion", assertion)]
                    + extra
            )
            return try await provider.token(body: body, authorization: authorization)
        }
    }

    @Test("a signed assertion authenticates the client; the same one again is refused (jti replay)")
    func singleUse() async throws {
        let f = try await Fixture()
        let assertion = try f.assertion(f.claims())
        let answer = try await f.token(assertion)
        #expect(answer.scope == "reports:read")
        #expect(try await f.provider.tokens.authenticate(answer.accessToken).subject == "client:batch")
        let replay = await refusal { _ = try await f.token(assertion) }
        #expect(replay?.hasPrefix("invalid_client") == true && replay?.contains("used before") == true, "\(replay ?? "accepted")")
        // The issuer itself is an accepted audience too, and so is an array naming it.
        _ = try await f.token(try f.assertion(f.claims(["aud": ["https://id.example"]])))
    }

    @Test("refused: another key, another audience, expired, too long-lived, iss not sub, no jti, not yet valid")
    func refusals() async throws {
        let f = try await Fixture()
        let now = Int(f.clock.now().timeIntervalSince1970)
        let cases: [(String, String)] = [
            ("another key", try f.assertion(f.claims(), signer: f.stranger)),
            ("unknown kid", try f.assertion(f.claims(), kid: "k2")),
            ("another audience", try f.assertion(f.claims(["aud": "https://other.example/token"]))),
            ("expired", try f.assertion(f.claims(["exp": now - 120]))),
            ("two hours long", try f.assertion(f.claims(["exp": now + 7200]))),
            ("iss is not sub", try f.assertion(f.claims(["iss": "someone"]))),
            ("no jti", try f.assertion(f.claims(["jti": ""]))),
            ("no exp", try f.assertion(f.claims().filter { $0.key != "exp" })),
            ("nbf ahead", try f.assertion(f.claims(["nbf": now + 300]))),
            ("not a JWT", "abc.def"),
        ]
        for (what, assertion) in cases {
            let outcome = await refusal { _ = try await f.token(assertion) }
            #expect(outcome?.hasPrefix("invalid_client") == true, "\(what): \(outcome ?? "accepted")")
        }
        // Two methods at once, a secret for a client that has keys, a wrong assertion type.
        let both = await refusal { _ = try await f.token(try f.assertion(f.claims()), authorization: "Basic YmF0Y2g6eA==") }
        #expect(both?.hasPrefix("invalid_request") == true, "\(both ?? "accepted")")
        let secret = await refusal {
            _ = try await f.provider.token(body: "grant_type=client_credentials&client_id=batch&client_secret=guess", authorization: nil)
        }
        #expect(secret?.contains("private_key_jwt") == true, "\(secret ?? "accepted")")
        let wrongType = await refusal {
            _ = try await f.provider.token(
                body: "grant_type=client_credentials&client_assertion_type=saml&client_assertion=x.y.z",
                authorization: nil
            )
        }
        #expect(wrongType?.hasPrefix("invalid_client") == true)
        // None of the refused assertions was spent: a fresh valid one still works.
        _ = try await f.token(try f.assertion(f.claims()))
    }

    @Test("registration refuses private keys, symmetric keys, keys without alg or kid, and keys on a public client")
    func registration() throws {
        func register(_ jwks: String, isPublic: Bool = false) -> String? {
            do {
                _ = try OAuthClient.register(
                    name: "x",
                    redirectURIs: ["https://x.example/cb"],
                    isPublic: isPublic,
                    jwks: jwks,
                    now: Date()
                )
                return nil
            } catch {
                return error.description
            }
        }
        #expect(register(#"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"a","x":"x","y":"y","d":"secret"}]}"#)?.contains("private") == true)
        #expect(register(#"{"keys":[{"kty":"oct","alg":"HS256","kid":"a","k":"c2VjcmV0"}]}"#) != nil)
        #expect(register(#"{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"x","y":"y"}]}"#)?.contains("alg") == true)
        #expect(register(#"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","x":"x","y":"y"}]}"#)?.contains("kid") == true)
        #expect(register(#"{"keys":[]}"#) != nil)
        #expect(register(#"{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"a","x":"x"}]}"#, isPublic: true)?.contains("public") == true)
    }
}

import CloakroomCore
import CloakroomOAuth
import CloakroomTesting
import CloakroomTokens
import Crypto
import Foundation
import Testing
import _CryptoExtras

/// The provider without HTTP: the authorization steps, the token endpoint's grants and client
/// authentication, ID tokens, revocation and introspection (RFC 9700's negative cases).
@Suite("OAuth provider")
struct OAuthProviderTests {
    struct Fixture {
        let clock = ManualClock()
        let provider: OAuthProvider
        let idRing: TokenKeyRing
        let clients = MemoryOAuthClientStore()
        let consents = MemoryConsentStore()
        let verifier = String(repeating: "a", count: 43)
        /// Client `web` (confidential) with this secret, `app` (public), `other` (confidential).
        let webSecret: String
        let otherSecret: String

        init(idAlgorithm: TokenAlgorithm = .rs256) async throws {
            let ring = TokenKeyRing(clock: clock)
            try await ring.generate()
            idRing = TokenKeyRing(configuration: .init(algorithm: idAlgorithm), clock: clock)
            try await idRing.generate()
            let tokens = TokenService(
                issuer: AccessTokenIssuer(keyRing: ring, configuration: .init(issuer: "https://id.example"), clock: clock),
                verifier: TokenVerifier(keys: ring, configuration: .init(issuer: "https://id.example", audience: "https://id.example"), clock: clock),
                store: MemoryTokenStore(),
                configuration: .init(audience: "https://id.example")
            )
            provider = OAuthProvider(
                issuer: "https://id.example/",
                clients: clients,
                consents: consents,
                codes: AuthorizationCodes(sealer: Sealer(ring: SealingKeyRing(.init(SymmetricKey(size: .bits256)))), tokens: tokens, clock: clock),
                tokens: tokens,
                idTokens: IDTokenIssuer(keyRing: idRing, issuer: "https://id.example", clock: clock),
                clock: clock
            )
            let web = OAuthClient.newSecret()
            let other = OAuthClient.newSecret()
            webSecret = web.secret
            otherSecret = other.secret
            let scopes = Scope(["openid", "profile", "offline_access", "orders:read", "orders:write"])
            try await clients.insert(
                OAuthClient(
                    id: "web",
                    name: "Web",
                    secretHash: web.hash,
                    redirectURIs: ["https://web.example/cb"],
                    scopes: scopes,
                    createdAt: clock.now()
                )
            )
            try await clients.insert(
                OAuthClient(id: "app", name: "App", secretHash: nil, redirectURIs: ["http://127.0.0.1/cb"], scopes: scopes, createdAt: clock.now())
            )
            try await clients.insert(
                OAuthClient(
                    id: "other",
                    name: "Other",
                    secretHash: other.hash,
                    redirectURIs: ["https://other.example/cb"],
                    scopes: scopes,
                    createdAt: clock.now()
                )
            )
        }

        func request(
            _ client: String = "web",
            scope: String = "openid profile orders:read",
            extra: [(String, String)] = []
        ) async throws
            -> AuthorizationRequest
        {
            let redirect = client == "app" ? "http://127.0.0.1:5000/cb" : "https://\(client).example/cb"
            let query = FormURLEncoded.encode(
                [
                    ("client_id", client), ("redirect_uri", redirect), ("response_type", "code"), ("scope", scope), ("state", "s1"),
                    ("nonce", "n1"), ("code_challenge", PKCE.challenge(for: verifier)), ("code_challenge_method", "S256"),
                ] + extra
            )
            let clients = self.clients
            guard case .valid(let request) = try await AuthorizationRequest.check(query: query, lookup: { try await clients.client(id: $0) }) else {
                throw OAuthError.invalidRequest("the fixture's request was refused")
            }
            return request
        }

        /// A code for `request`, approved by user-1 (consent recorded).
        func code(_ request: AuthorizationRequest) async throws -> String {
            let location = try await provider.approve(request, userID: "user-1", authTime: clock.now(), sessionHandle: "sess-1")
            return try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
        }

        func basic(_ id: String, _ secret: String) -> String {
            "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
        }

        func form(_ pairs: [(String, String)]) -> String { FormURLEncoded.encode(pairs) }

        func exchange(
            _ code: String,
            client: String = "web",
            secret: String? = nil,
            verifier: String? = nil,
            redirect: String? = nil
        )
            async throws -> OAuthProvider.TokenResponse
        {
            var pairs = [("grant_type", "authorization_code"), ("code", code), ("code_verifier", verifier ?? self.verifier)]
            pairs.append(("redirect_uri", redirect ?? (client == "app" ? "http://127.0.0.1:5000/cb" : "https://\(client).example/cb")))
            if client == "app" { pairs.append(("client_id", "app")) }
            let authorization = client == "app" ? nil : basic(client, secret ?? (client == "web" ? webSecret : otherSecret))
            return try await provider.token(body: form(pairs), authorization: authorization)
        }
    }

    static func error(_ body: () async throws -> Void) async -> OAuthError? {
        do {
            try await body()
            return nil
        } catch let error as OAuthError {
            return error
        } catch {
            return OAuthError("unexpected", "\(error)")
        }
    }

    /// The claims of a compact JWS, and its header, without checking the signature.
    static func parts(_ token: String) throws -> (header: [String: Any], claims: [String: Any]) {
        let pieces = token.split(separator: ".").map(String.init)
        try #require(pieces.count == 3)
        func object(_ text: String) throws -> [String: Any] {
            let bytes = try #require(Base64URL.decode(text))
            return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        }
        return (try object(pieces[0]), try object(pieces[1]))
    }

    @Test("the authorization steps: sign in, consent for what is new, then straight back; prompt and max_age")
    func steps() async throws {
        let f = try await Fixture()
        let request = try await f.request()
        #expect(try await f.provider.step(for: request, userID: nil, authTime: nil, interactionStarted: nil, sessionHandle: nil) == .signIn)
        let now = f.clock.now()
        let first = try await f.provider.step(for: request, userID: "user-1", authTime: now, interactionStarted: nil, sessionHandle: "h")
        #expect(first == .consent(newScopes: Scope(["openid", "profile", "orders:read"])))
        _ = try await f.code(request)
        let again = try await f.provider.step(for: request, userID: "user-1", authTime: now, interactionStarted: nil, sessionHandle: "h")
        guard case .redirect(let location) = again else {
            Issue.record("a consented request should go straight back, got \(again)")
            return
        }
        #expect(
            location.hasPrefix("https://web.example/cb?code=") && location.contains("state=s1") && location.contains("iss=https%3A%2F%2Fid.example")
        )
        // One new scope: the page names only it.
        let wider = try await f.request(scope: "openid profile orders:read orders:write")
        #expect(
            try await f.provider.step(for: wider, userID: "user-1", authTime: now, interactionStarted: nil, sessionHandle: "h")
                == .consent(newScopes: Scope(["orders:write"]))
        )
        // prompt=none: errors instead of pages.
        let silent = try await f.request(scope: "openid orders:write", extra: [("prompt", "none")])
        guard
            case .redirect(let refused) = try await f.provider.step(
                for: silent,
                userID: "user-1",
                authTime: now,
                interactionStarted: nil,
                sessionHandle: "h"
            )
        else {
            Issue.record("prompt=none without consent should redirect")
            return
        }
        #expect(refused.contains("error=consent_required") && refused.contains("state=s1") && refused.contains("iss="))
        guard
            case .redirect(let anonymous) = try await f.provider.step(
                for: silent,
                userID: nil,
                authTime: nil,
                interactionStarted: nil,
                sessionHandle: nil
            )
        else {
            Issue.record("prompt=none signed out should redirect")
            return
        }
        #expect(anonymous.contains("error=login_required"))
        // prompt=login: a sign-in before the request does not count; one after it does.
        let login = try await f.request(extra: [("prompt", "login")])
        #expect(try await f.provider.step(for: login, userID: "user-1", authTime: now, interactionStarted: nil, sessionHandle: "h") == .signIn)
        f.clock.advance(by: 5)
        guard
            case .redirect = try await f.provider.step(
                for: login,
                userID: "user-1",
                authTime: f.clock.now(),
                interactionStarted: now,
                sessionHandle: "h"
            )
        else {
            Issue.record("a sign-in after the request should satisfy prompt=login")
            return
        }
        // max_age=60 with a sign-in 120 s old.
        f.clock.advance(by: 120)
        let aged = try await f.request(extra: [("max_age", "60")])
        #expect(try await f.provider.step(for: aged, userID: "user-1", authTime: now, interactionStarted: nil, sessionHandle: "h") == .signIn)
        // prompt=consent asks again for everything.
        let consent = try await f.request(extra: [("prompt", "consent")])
        #expect(
            try await f.provider.step(for: consent, userID: "user-1", authTime: f.clock.now(), interactionStarted: nil, sessionHandle: "h")
                == .consent(newScopes: Scope(["openid", "profile", "orders:read"]))
        )
    }

    @Test("code flow: tokens, an RS256 ID token with every claim and at_hash, verifiable with the published key")
    func codeFlow() async throws {
        let f = try await Fixture()
        let code = try await f.code(try await f.request())
        let answer = try await f.exchange(code)
        #expect(answer.scope == "openid orders:read profile" && answer.refreshToken != nil && answer.expiresIn == 600)
        let idToken = try #require(answer.idToken)
        let (header, claims) = try Self.parts(idToken)
        #expect(header["alg"] as? String == "RS256" && header["typ"] as? String == "JWT" && header["kid"] != nil)
        #expect(claims["iss"] as? String == "https://id.example" && claims["sub"] as? String == "user-1")
        #expect(claims["aud"] as? String == "web" && claims["azp"] as? String == "web" && claims["nonce"] as? String == "n1")
        #expect(claims["sid"] as? String == "sess-1" && claims["auth_time"] as? Int == Int(f.clock.now().timeIntervalSince1970))
        // at_hash: the left half of SHA-256 of the access token, computed here independently.
        let digest = Array(SHA256.hash(data: Data(answer.accessToken.utf8)))
        #expect(claims["at_hash"] as? String == Base64URL.encode(digest.prefix(16)))
        // The signature verifies with the ring's public key, as a relying party would through the JWK Set.
        let pieces = idToken.split(separator: ".").map(String.init)
        let jwks = try #require(try JSONSerialization.jsonObject(with: Data(await f.idRing.jwks().utf8)) as? [String: Any])
        let jwk = try #require((jwks["keys"] as? [[String: Any]])?.first)
        #expect(jwk["kty"] as? String == "RSA" && jwk["alg"] as? String == "RS256" && jwk["kid"] as? String == header["kid"] as? String)
        let nText = try #require(jwk["n"] as? String)
        let eText = try #require(jwk["e"] as? String)
        let n = try #require(Base64URL.decode(nText))
        let e = try #require(Base64URL.decode(eText))
        let key = try _RSA.Signing.PublicKey(n: n, e: e)
        let signature = _RSA.Signing.RSASignature(rawRepresentation: try #require(Base64URL.decode(pieces[2])))
        #expect(key.isValidSignature(signature, for: Data((pieces[0] + "." + pieces[1]).utf8), padding: .insecurePKCS1v1_5))
        // The access token names the client and the scope.
        let access = try await f.provider.tokens.authenticate(answer.accessToken)
        #expect(access.clientID == "web" && access.subject == "user-1" && access.scope == "openid orders:read profile")
    }

    @Test("EdDSA ID tokens hash at_hash with SHA-512")
    func eddsa() async throws {
        let f = try await Fixture(idAlgorithm: .eddsa)
        let answer = try await f.exchange(try await f.code(try await f.request()))
        let (header, claims) = try Self.parts(try #require(answer.idToken))
        #expect(header["alg"] as? String == "EdDSA")
        let digest = Array(SHA512.hash(data: Data(answer.accessToken.utf8)))
        #expect(claims["at_hash"] as? String == Base64URL.encode(digest.prefix(32)))
    }

    @Test("client authentication: basic, post, none; unknown, wrong secret, both methods, public with a secret")
    func clientAuthentication() async throws {
        let f = try await Fixture()
        let request = try await f.request()
        // Wrong secret: 401 invalid_client, and the code is not spent.
        let code = try await f.code(request)
        let wrong = await Self.error { _ = try await f.exchange(code, secret: "not-the-secret") }
        #expect(wrong?.code == "invalid_client" && wrong?.status == 401)
        // client_secret_post works for the same code afterwards.
        let post = try await f.provider.token(
            body: f.form([
                ("grant_type", "authorization_code"), ("code", code), ("code_verifier", f.verifier), ("redirect_uri", "https://web.example/cb"),
                ("client_id", "web"), ("client_secret", f.webSecret),
            ]),
            authorization: nil
        )
        #expect(!post.accessToken.isEmpty)
        let unknown = await Self.error {
            _ = try await f.provider.token(body: f.form([("grant_type", "client_credentials")]), authorization: f.basic("nobody", "x"))
        }
        #expect(unknown?.code == "invalid_client" && unknown?.status == 401)
        let both = await Self.error {
            _ = try await f.provider.token(
                body: f.form([("grant_type", "client_credentials"), ("client_secret", f.webSecret)]),
                authorization: f.basic("web", f.webSecret)
            )
        }
        #expect(both?.code == "invalid_request")
        let confidentialWithout = await Self.error {
            _ = try await f.provider.token(body: f.form([("grant_type", "client_credentials"), ("client_id", "web")]), authorization: nil)
        }
        #expect(confidentialWithout?.code == "invalid_client")
        let publicWithSecret = await Self.error {
            _ = try await f.provider.token(
                body: f.form([("grant_type", "authorization_code"), ("code", "x")]),
                authorization: f.basic("app", "guess")
            )
        }
        #expect(publicWithSecret?.code == "invalid_client")
        let twice = await Self.error {
            _ = try await f.provider.token(
                body: "grant_type=client_credentials&grant_type=client_credentials",
                authorization: f.basic("web", f.webSecret)
            )
        }
        #expect(twice?.code == "invalid_request")
        let password = await Self.error {
            _ = try await f.provider.token(
                body: f.form([("grant_type", "password"), ("username", "u"), ("password", "p")]),
                authorization: f.basic("web", f.webSecret)
            )
        }
        #expect(password?.code == "unsupported_grant_type")
    }

    @Test("a code is bound to its client, redirect URI and verifier; reuse revokes what the first exchange issued")
    func codeBinding() async throws {
        let f = try await Fixture()
        let code = try await f.code(try await f.request())
        #expect(await Self.error { _ = try await f.exchange(code, client: "other") }?.code == "invalid_grant")
        #expect(await Self.error { _ = try await f.exchange(code, redirect: "https://web.example/cb/") }?.code == "invalid_grant")
        #expect(await Self.error { _ = try await f.exchange(code, verifier: String(repeating: "b", count: 43)) }?.code == "invalid_grant")
        #expect(await Self.error { _ = try await f.exchange(code, verifier: "short") }?.code == "invalid_grant")
        let first = try await f.exchange(code)
        let reuse = await Self.error { _ = try await f.exchange(code) }
        #expect(reuse?.code == "invalid_grant" && reuse?.message.contains("already used") == true)
        await #expect(throws: TokenError.self) { _ = try await f.provider.tokens.authenticate(first.accessToken) }
        // A public client: PKCE is its only proof, and it works.
        let app = try await f.exchange(try await f.code(try await f.request("app")), client: "app")
        #expect(app.idToken != nil)
        // An expired code (over 60 s).
        let late = try await f.code(try await f.request())
        f.clock.advance(by: 61)
        #expect(await Self.error { _ = try await f.exchange(late) }?.message.contains("expired") == true)
    }

    @Test("refresh: rotation bound to the client; a scope beyond the grant is refused; a narrower or equal one is not")
    func refresh() async throws {
        let f = try await Fixture()
        let answer = try await f.exchange(try await f.code(try await f.request()))
        let refresh = try #require(answer.refreshToken)
        let widen = await Self.error {
            _ = try await f.provider.token(
                body: f.form([("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "openid orders:read orders:write")]),
                authorization: f.basic("web", f.webSecret)
            )
        }
        #expect(widen?.code == "invalid_scope")
        let stolen = await Self.error {
            _ = try await f.provider.token(
                body: f.form([("grant_type", "refresh_token"), ("refresh_token", refresh)]),
                authorization: f.basic("other", f.otherSecret)
            )
        }
        #expect(stolen?.code == "invalid_grant")
        let rotated = try await f.provider.token(
            body: f.form([("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "openid")]),
            authorization: f.basic("web", f.webSecret)
        )
        #expect(rotated.refreshToken != refresh && rotated.scope == "openid orders:read profile")
    }

    @Test("client_credentials: a token for the client itself, never for a user scope; refused to public clients")
    func clientCredentials() async throws {
        let f = try await Fixture()
        let answer = try await f.provider.token(
            body: f.form([("grant_type", "client_credentials"), ("scope", "orders:read")]),
            authorization: f.basic("web", f.webSecret)
        )
        #expect(answer.refreshToken == nil && answer.idToken == nil && answer.scope == "orders:read")
        let claims = try await f.provider.tokens.authenticate(answer.accessToken)
        #expect(claims.subject == "client:web" && claims.clientID == "web")
        let defaulted = try await f.provider.token(body: f.form([("grant_type", "client_credentials")]), authorization: f.basic("web", f.webSecret))
        #expect(defaulted.scope == "orders:read orders:write")
        let openid = await Self.error {
            _ = try await f.provider.token(
                body: f.form([("grant_type", "client_credentials"), ("scope", "openid")]),
                authorization: f.basic("web", f.webSecret)
            )
        }
        #expect(openid?.code == "invalid_scope")
        let app = await Self.error {
            _ = try await f.provider.token(body: f.form([("grant_type", "client_credentials"), ("client_id", "app")]), authorization: nil)
        }
        #expect(app?.code == "unauthorized_client")
    }

    @Test("revocation and introspection see only the asking client's tokens")
    func revokeAndIntrospect() async throws {
        let f = try await Fixture()
        let answer = try await f.exchange(try await f.code(try await f.request()))
        let refresh = try #require(answer.refreshToken)
        let asWeb = f.basic("web", f.webSecret)
        let asOther = f.basic("other", f.otherSecret)
        let seen = try await f.provider.introspect(body: f.form([("token", answer.accessToken)]), authorization: asWeb)
        #expect(seen["active"] == .bool(true) && seen["client_id"] == .string("web") && seen["sub"] == .string("user-1"))
        let refreshSeen = try await f.provider.introspect(body: f.form([("token", refresh)]), authorization: asWeb)
        #expect(refreshSeen["active"] == .bool(true) && refreshSeen["token_type"] == .string("refresh_token"))
        #expect(try await f.provider.introspect(body: f.form([("token", answer.accessToken)]), authorization: asOther) == ["active": .bool(false)])
        #expect(try await f.provider.introspect(body: f.form([("token", refresh)]), authorization: asOther) == ["active": .bool(false)])
        #expect(try await f.provider.introspect(body: f.form([("token", "garbage")]), authorization: asWeb) == ["active": .bool(false)])
        let publicAsks = await Self.error {
            _ = try await f.provider.introspect(body: f.form([("token", refresh), ("client_id", "app")]), authorization: nil)
        }
        #expect(publicAsks?.code == "invalid_client")
        // Another client cannot revoke it; the token keeps working.
        let foreign = await Self.error { try await f.provider.revoke(body: f.form([("token", refresh)]), authorization: asOther) }
        #expect(foreign?.code == "unauthorized_client")
        _ = try await f.provider.tokens.authenticate(answer.accessToken)
        // Unknown tokens are fine (RFC 7009 §2.2).
        try await f.provider.revoke(body: f.form([("token", "no-such-token")]), authorization: asWeb)
        // Its own client revokes the refresh token: the family ends, access token included.
        try await f.provider.revoke(body: f.form([("token", refresh), ("token_type_hint", "refresh_token")]), authorization: asWeb)
        await #expect(throws: TokenError.self) { _ = try await f.provider.tokens.authenticate(answer.accessToken) }
        #expect(try await f.provider.introspect(body: f.form([("token", refresh)]), authorization: asWeb) == ["active": .bool(false)])
    }

    @Test("a withdrawn consent ends the client's refreshes, unredeemed codes and introspection for that user")
    func withdrawnConsent() async throws {
        let f = try await Fixture()
        let request = try await f.request()
        let answer = try await f.exchange(try await f.code(request))
        let pending = try await f.code(request)
        #expect(try await f.consents.revoke(userID: "user-1", clientID: "web"))
        let asWeb = f.basic("web", f.webSecret)
        let refresh = await Self.error {
            _ = try await f.provider.token(
                body: f.form([("grant_type", "refresh_token"), ("refresh_token", try #require(answer.refreshToken))]),
                authorization: asWeb
            )
        }
        #expect(refresh?.code == "invalid_grant" && refresh?.message.contains("withdrawn") == true)
        // The refusal also revoked the family: its access token stops at once.
        await #expect(throws: TokenError.self) { _ = try await f.provider.tokens.authenticate(answer.accessToken) }
        let redeem = await Self.error { _ = try await f.exchange(pending) }
        #expect(redeem?.code == "invalid_grant" && redeem?.message.contains("withdrawn") == true)
        // Allowed again: the flow works again.
        let again = try await f.exchange(try await f.code(request))
        #expect(try await f.provider.introspect(body: f.form([("token", again.accessToken)]), authorization: asWeb)["active"] == .bool(true))
        _ = try await f.consents.revoke(userID: "user-1", clientID: "web")
        #expect(try await f.provider.introspect(body: f.form([("token", again.accessToken)]), authorization: asWeb) == ["active": .bool(false)])
    }

    @Test("the first-party client_id is reserved")
    func reservedID() {
        #expect(throws: OAuthClient.RegistrationProblem.self) {
            _ = try OAuthClient.register(name: "Impostor", id: "cloakroom", redirectURIs: ["https://x.example/cb"], isPublic: false, now: Date())
        }
    }

    @Test("metadata: endpoints under the issuer, code only, S256 only, the ID token algorithm")
    func metadata() async throws {
        let f = try await Fixture()
        let document = f.provider.metadata(openID: true, scopes: ["openid"], idTokenAlgorithm: "RS256")
        #expect(document["issuer"] == .string("https://id.example") && document["token_endpoint"] == .string("https://id.example/token"))
        #expect(document["response_types_supported"] == .array([.string("code")]))
        #expect(document["code_challenge_methods_supported"] == .array([.string("S256")]))
        #expect(document["id_token_signing_alg_values_supported"] == .array([.string("RS256")]))
        #expect(document["authorization_response_iss_parameter_supported"] == .bool(true))
        #expect(f.provider.metadata(openID: false, scopes: [], idTokenAlgorithm: "RS256")["userinfo_endpoint"] == nil)
    }
}

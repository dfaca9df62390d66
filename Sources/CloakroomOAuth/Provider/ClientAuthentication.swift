public import CloakroomCore
public import CloakroomTokens
public import Foundation

/// How a client proved itself at the token, revocation and introspection endpoints (RFC 6749
/// §2.3.1, OpenID Connect Core §9): `client_secret_basic` (HTTP Basic), `client_secret_post` (the
/// form), `private_key_jwt` (RFC 7523: a JWT the client signed with a key it registered), or
/// `none` (a public client naming itself; PKCE is its proof).
public enum ClientAuthentication: Sendable, Equatable {
    case basic(clientID: String, secret: String)
    case post(clientID: String, secret: String)
    case none(clientID: String)
    case assertion(clientID: String, jwt: String)

    /// RFC 7523 §2.2: the only client assertion type.
    public static let jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    public var clientID: String {
        switch self {
        case .basic(let id, _), .post(let id, _), .none(let id), .assertion(let id, _): id
        }
    }

    /// Reads the credentials of a request: its `Authorization` header and form fields. More than
    /// one method, a malformed Basic header, or none at all is `invalid_request`/`invalid_client`.
    public static func read(authorization: String?, form: [String: String]) throws(OAuthError) -> ClientAuthentication {
        if form["client_assertion"] != nil || form["client_assertion_type"] != nil {
            guard form["client_assertion_type"] == jwtBearer else {
                throw OAuthError.invalidClient("client_assertion_type must be \(jwtBearer)")
            }
            guard let jwt = form["client_assertion"], !jwt.isEmpty else { throw OAuthError.invalidClient("client_assertion is required") }
            guard authorization == nil, form["client_secret"] == nil else {
                throw OAuthError.invalidRequest("use one client authentication method, not a client assertion and a secret")
            }
            // The client is the assertion's `sub` (checked against its `iss` and signature later).
            guard let subject = Self.unverifiedSubject(jwt) else { throw OAuthError.invalidClient("client_assertion is not a JWT with sub") }
            if let named = form["client_id"], named != subject {
                throw OAuthError.invalidClient("client_id differs from the client assertion's sub")
            }
            return .assertion(clientID: subject, jwt: jwt)
        }
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "basic" else {
                throw OAuthError.invalidClient("the Authorization header must use the Basic scheme")
            }
            guard let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
                let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
            else {
                throw OAuthError.invalidClient("the Basic credentials are not base64 of client_id:client_secret")
            }
            // RFC 6749 §2.3.1: both halves are form-urlencoded before they are joined.
            guard let id = FormURLEncoded.decodeComponent(String(text[..<colon])),
                let secret = FormURLEncoded.decodeComponent(String(text[text.index(after: colon)...]))
            else {
                throw OAuthError.invalidClient("the Basic credentials are not form-urlencoded")
            }
            if form["client_secret"] != nil {
                throw OAuthError.invalidRequest("use one client authentication method, not both Basic and client_secret")
            }
            if let named = form["client_id"], named != id {
                throw OAuthError.invalidRequest("client_id in the body differs from the one in the Authorization header")
            }
            guard !id.isEmpty else { throw OAuthError.invalidClient("the Basic credentials name no client") }
            return .basic(clientID: id, secret: secret)
        }
        guard let id = form["client_id"], !id.isEmpty else {
            throw OAuthError.invalidClient("client authentication is required: HTTP Basic, or client_id (and client_secret) in the body")
        }
        if let secret = form["client_secret"] { return .post(clientID: id, secret: secret) }
        return .none(clientID: id)
    }

    /// What checking a client assertion needs: who may be its audience, the single-use record of
    /// its `jti`, and the time.
    public struct AssertionContext: Sendable {
        /// Accepted `aud` values: the issuer and the endpoint's URL (RFC 7523 §3, OpenID Connect Core §9).
        public let audiences: Set<String>
        public let tokens: TokenService
        public let clock: any CloakroomClock
        /// Clock skew allowed on `exp` and `nbf`.
        public let leeway: TimeInterval
        /// The longest an assertion may be valid from now (its `jti` is remembered that long).
        public static let maximumLifetime: TimeInterval = 3600

        public init(audiences: Set<String>, tokens: TokenService, clock: any CloakroomClock, leeway: TimeInterval = 30) {
            self.audiences = audiences
            self.tokens = tokens
            self.clock = clock
            self.leeway = leeway
        }
    }

    /// The registered client these credentials prove, or `invalid_client` (401): unknown, wrong
    /// secret, a confidential client without its secret, a public client with one, an assertion
    /// that does not verify with the client's keys, names another audience, has expired, lives
    /// longer than an hour, or was used before (its `jti`).
    public func authenticate(in store: any OAuthClientStore, assertions: AssertionContext? = nil) async throws -> OAuthClient {
        guard let client = try await store.client(id: clientID) else {
            throw OAuthError.invalidClient("client authentication failed")
        }
        switch self {
        case .basic(_, let secret), .post(_, let secret):
            guard !client.isPublic else { throw OAuthError.invalidClient("this client is public: it has no secret (send client_id alone)") }
            guard client.secretHash != nil else { throw OAuthError.invalidClient("this client authenticates with private_key_jwt") }
            guard client.verifySecret(secret) else { throw OAuthError.invalidClient("client authentication failed") }
        case .none:
            guard client.isPublic else {
                throw OAuthError.invalidClient("this client is confidential: authenticate with its secret or a client assertion")
            }
        case .assertion(_, let jwt):
            guard let keys = client.jwks else { throw OAuthError.invalidClient("this client has registered no keys for private_key_jwt") }
            guard let assertions else { throw OAuthError.invalidClient("client assertions are not accepted here") }
            try await Self.verify(jwt, client: client, keys: keys, context: assertions)
        }
        return client
    }

    /// RFC 7523 §3: signature by one of the client's keys (asymmetric only: RFC 8725), `iss` and
    /// `sub` the client, `aud` this server, `exp` in the future and at most an hour away (Authlib's default lifetime), `jti`
    /// never seen before.
    static func verify(_ jwt: String, client: OAuthClient, keys: String, context: AssertionContext) async throws {
        let set: VerificationKeySet
        do {
            set = try await VerificationKeySet.load(jwkJSON: Data(keys.utf8))
        } catch {
            throw OAuthError.invalidClient("the client's registered keys cannot be used: \(error.message)")
        }
        let now = context.clock.now()
        let verified: VerifiedJWS
        do {
            verified = try await JWSVerifier(keys: set, clock: context.clock).verifySignatureOnly(jwt, now: now)
        } catch {
            throw OAuthError.invalidClient("the client assertion does not verify: \(error.message)")
        }
        guard !verified.algorithm.isSymmetric else { throw OAuthError.invalidClient("client assertions must be signed with a private key") }
        guard let claims = try? JSONSerialization.jsonObject(with: verified.payload) as? [String: Any] else {
            throw OAuthError.invalidClient("the client assertion's claims are not a JSON object")
        }
        guard claims["iss"] as? String == client.id, claims["sub"] as? String == client.id else {
            throw OAuthError.invalidClient("the client assertion's iss and sub must both be the client_id")
        }
        let audiences: [String] = (claims["aud"] as? String).map { [$0] } ?? (claims["aud"] as? [String]) ?? []
        guard audiences.contains(where: context.audiences.contains) else {
            throw OAuthError.invalidClient("the client assertion's aud must name this server (its issuer or the endpoint's URL)")
        }
        guard let exp = (claims["exp"] as? NSNumber)?.doubleValue else { throw OAuthError.invalidClient("the client assertion needs exp") }
        guard exp + context.leeway > now.timeIntervalSince1970 else { throw OAuthError.invalidClient("the client assertion has expired") }
        guard exp <= now.timeIntervalSince1970 + AssertionContext.maximumLifetime + context.leeway else {
            throw OAuthError.invalidClient("the client assertion's exp is more than an hour away")
        }
        if let nbf = (claims["nbf"] as? NSNumber)?.doubleValue, nbf > now.timeIntervalSince1970 + context.leeway {
            throw OAuthError.invalidClient("the client assertion is not valid yet (nbf)")
        }
        guard let jti = claims["jti"] as? String, !jti.isEmpty, jti.utf8.count <= 256 else {
            throw OAuthError.invalidClient("the client assertion needs a jti (at most 256 bytes)")
        }
        let until = Date(timeIntervalSince1970: exp + context.leeway)
        guard try await context.tokens.markUsed(jti, owner: "client-assertion:" + client.id, until: until) else {
            throw OAuthError.invalidClient("the client assertion was used before (jti replay)")
        }
    }

    /// The `sub` of a JWT, read without verifying it (only to find whose keys verify it).
    static func unverifiedSubject(_ jwt: String) -> String? {
        guard let subject = (try? UnverifiedToken(decoding: jwt))?.claims?["sub"] as? String, !subject.isEmpty else { return nil }
        return subject
    }
}

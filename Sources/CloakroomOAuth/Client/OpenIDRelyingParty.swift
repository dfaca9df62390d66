public import CloakroomCore
import CloakroomTokens
public import Foundation

/// Cloakroom as an OpenID Connect client ("sign in with another provider"): the authorization
/// code flow with PKCE S256, `state` bound to the browser's session, `nonce`, and the RFC 9207
/// `iss` check; the ID token verified against the provider's JWK Set (cached, fetched again once
/// for a `kid` it does not hold: key rotation), its issuer, audience, `azp`, expiry, nonce and
/// `at_hash`. No HTTP library in its API: the caller hands it a `Fetch`.
public actor OpenIDRelyingParty {
    /// A provider as configured (`--provider NAME=ISSUER,CLIENT_ID,SECRET`).
    public struct Provider: Sendable, Hashable {
        /// The name in URLs and on the button (letters, digits, `-` and `_`).
        public let name: String
        /// The issuer URL; its metadata is at `/.well-known/openid-configuration` under it.
        public let issuer: String
        public let clientID: String
        public let clientSecret: String

        public init(name: String, issuer: String, clientID: String, clientSecret: String) {
            self.name = name
            self.issuer = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
            self.clientID = clientID
            self.clientSecret = clientSecret
        }
    }

    /// An HTTP exchange: method, URL, headers, body → status and body.
    public typealias Fetch =
        @Sendable (_ method: String, _ url: String, _ headers: [(String, String)], _ body: [UInt8]?) async throws -> (
            status: Int, body: [UInt8]
        )

    /// What one sign-in keeps in the browser's session between the redirect and the callback.
    public struct Pending: Codable, Sendable, Equatable {
        public var provider: String
        public var state: String
        public var nonce: String
        public var verifier: String
        public var redirectURI: String
        public var startedAt: Date
        /// Link to the signed-in account instead of signing in.
        public var linking: Bool
    }

    /// Who the provider says signed in.
    public struct SignedIn: Sendable, Equatable {
        public let provider: String
        public let subject: String
        public let preferredUsername: String?
    }

    /// Why a sign-in with the provider failed, for the page and the log.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    struct Metadata: Decodable, Sendable {
        let issuer: String
        let authorization_endpoint: String
        let token_endpoint: String
        let jwks_uri: String
        let userinfo_endpoint: String?
        let authorization_response_iss_parameter_supported: Bool?
    }

    public let provider: Provider
    let fetch: Fetch
    let clock: any CloakroomClock
    /// How long a started sign-in may take (10 minutes).
    public static let pendingLifetime: TimeInterval = 600
    /// How long metadata and keys are cached (5 minutes).
    public static let cacheLifetime: TimeInterval = 300
    var metadata: (value: Metadata, at: Date)?
    var keys: (value: VerificationKeySet, at: Date)?

    public init(provider: Provider, fetch: @escaping Fetch, clock: any CloakroomClock = SystemClock()) {
        self.provider = provider
        self.fetch = fetch
        self.clock = clock
    }

    /// The URL to send the browser to, and what to keep in its session.
    public func start(redirectURI: String, linking: Bool = false) async throws -> (url: String, pending: Pending) {
        let metadata = try await currentMetadata()
        let pending = Pending(
            provider: provider.name,
            state: SecureToken(byteCount: 32).text,
            nonce: SecureToken(byteCount: 32).text,
            verifier: SecureToken(byteCount: 48).text,
            redirectURI: redirectURI,
            startedAt: clock.now(),
            linking: linking
        )
        let url = OAuthError.appending(
            [
                ("response_type", "code"), ("client_id", provider.clientID), ("redirect_uri", redirectURI), ("scope", "openid profile"),
                ("state", pending.state), ("nonce", pending.nonce), ("code_challenge", PKCE.challenge(for: pending.verifier)),
                ("code_challenge_method", PKCE.method),
            ],
            to: metadata.authorization_endpoint
        )
        return (url, pending)
    }

    /// Completes a sign-in from the callback's query: `state` (constant time), `iss`, the code
    /// exchanged with the verifier, the ID token verified, userinfo read for the username.
    public func finish(query: [String: String], pending: Pending) async throws -> SignedIn {
        guard let state = query["state"], ConstantTime.equals(state, pending.state) else {
            throw Failure("the sign-in response does not belong to this browser (state)")
        }
        guard clock.now().timeIntervalSince(pending.startedAt) <= Self.pendingLifetime else {
            throw Failure("the sign-in took longer than 10 minutes; start again")
        }
        let metadata = try await currentMetadata()
        if let iss = query["iss"] {
            guard iss == metadata.issuer else { throw Failure("the response came from another issuer (iss \(iss.prefix(100)))") }
        } else if metadata.authorization_response_iss_parameter_supported == true {
            throw Failure("the provider promises iss on its responses, and this one has none")
        }
        if let error = query["error"] {
            throw Failure("the provider refused: \(error.prefix(64))" + (query["error_description"].map { " (\($0.prefix(200)))" } ?? ""))
        }
        guard let code = query["code"], !code.isEmpty else { throw Failure("the response carries no code") }
        let credentials = Data(
            "\(FormURLEncoded.encode([("a", provider.clientID)]).dropFirst(2)):\(FormURLEncoded.encode([("a", provider.clientSecret)]).dropFirst(2))"
                .utf8
        ).base64EncodedString()
        let body = FormURLEncoded.encode([
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", pending.redirectURI), ("code_verifier", pending.verifier),
        ])
        let answer = try await fetch(
            "POST",
            metadata.token_endpoint,
            [("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", "Basic " + credentials), ("Accept", "application/json")],
            Array(body.utf8)
        )
        guard let object = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any] else {
            throw Failure("the token endpoint answered \(answer.status) without JSON")
        }
        guard answer.status == 200 else {
            throw Failure("the token endpoint refused (\(answer.status)): \((object["error"] as? String)?.prefix(64) ?? "unknown")")
        }
        guard let idToken = object["id_token"] as? String, let accessToken = object["access_token"] as? String else {
            throw Failure("the token response has no id_token or access_token")
        }
        let subject = try await verify(idToken, accessToken: accessToken, nonce: pending.nonce, issuer: metadata.issuer)
        var username: String?
        if let userinfo = metadata.userinfo_endpoint {
            let info = try await fetch("GET", userinfo, [("Authorization", "Bearer " + accessToken), ("Accept", "application/json")], nil)
            if info.status == 200, let claims = try? JSONSerialization.jsonObject(with: Data(info.body)) as? [String: Any],
                claims["sub"] as? String == subject
            {
                username = claims["preferred_username"] as? String
            }
        }
        return SignedIn(provider: provider.name, subject: subject, preferredUsername: username)
    }

    /// OpenID Connect Core §3.1.3.7: returns `sub`.
    func verify(_ idToken: String, accessToken: String, nonce: String, issuer: String) async throws -> String {
        var verified: VerifiedJWS
        do {
            verified = try await JWSVerifier(keys: try await currentKeys(refresh: false), clock: clock).verifySignatureOnly(idToken)
        } catch let error as TokenError where error.code == .unknownKid {
            // A kid we do not hold: the provider may have rotated its keys. Fetch them once more.
            do {
                verified = try await JWSVerifier(keys: try await currentKeys(refresh: true), clock: clock).verifySignatureOnly(idToken)
            } catch {
                throw Failure("the ID token's signature does not verify: \(error)")
            }
        } catch {
            throw Failure("the ID token's signature does not verify: \(error)")
        }
        guard !verified.algorithm.isSymmetric else { throw Failure("the ID token is not signed with the provider's public key") }
        guard let claims = try? JSONSerialization.jsonObject(with: verified.payload) as? [String: Any] else {
            throw Failure("the ID token's claims are not a JSON object")
        }
        guard claims["iss"] as? String == issuer else { throw Failure("the ID token was issued by someone else") }
        let audience = (claims["aud"] as? String).map { [$0] } ?? (claims["aud"] as? [String]) ?? []
        guard audience.contains(provider.clientID) else { throw Failure("the ID token is meant for another client") }
        if audience.count > 1 || claims["azp"] != nil {
            guard claims["azp"] as? String == provider.clientID else { throw Failure("the ID token's azp names another client") }
        }
        let now = clock.now().timeIntervalSince1970
        guard let exp = (claims["exp"] as? NSNumber)?.doubleValue, exp + 30 > now else { throw Failure("the ID token has expired") }
        guard let iat = (claims["iat"] as? NSNumber)?.doubleValue, iat <= now + 30 else { throw Failure("the ID token's iat is missing or ahead") }
        guard let tokenNonce = claims["nonce"] as? String, ConstantTime.equals(tokenNonce, nonce) else {
            throw Failure("the ID token's nonce is not the one this sign-in sent")
        }
        if let atHash = claims["at_hash"] as? String {
            guard atHash == IDTokenIssuer.accessTokenHash(accessToken, algorithm: verified.algorithm) else {
                throw Failure("the ID token's at_hash does not match the access token")
            }
        }
        guard let subject = claims["sub"] as? String, !subject.isEmpty, subject.utf8.count <= 255 else {
            throw Failure("the ID token has no usable sub")
        }
        return subject
    }

    func currentMetadata() async throws -> Metadata {
        if let metadata, clock.now().timeIntervalSince(metadata.at) < Self.cacheLifetime { return metadata.value }
        let answer = try await fetch("GET", provider.issuer + "/.well-known/openid-configuration", [("Accept", "application/json")], nil)
        guard answer.status == 200, let document = try? JSONDecoder().decode(Metadata.self, from: Data(answer.body)) else {
            throw Failure("the provider's metadata could not be read (status \(answer.status))")
        }
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        guard document.issuer == provider.issuer else { throw Failure("the provider's metadata names another issuer") }
        metadata = (document, clock.now())
        return document
    }

    func currentKeys(refresh: Bool) async throws -> VerificationKeySet {
        if !refresh, let keys, clock.now().timeIntervalSince(keys.at) < Self.cacheLifetime { return keys.value }
        let answer = try await fetch("GET", try await currentMetadata().jwks_uri, [("Accept", "application/json")], nil)
        guard answer.status == 200 else { throw Failure("the provider's keys could not be read (status \(answer.status))") }
        let set: VerificationKeySet
        do {
            set = try await VerificationKeySet.load(jwkJSON: Data(answer.body))
        } catch {
            throw Failure("the provider's keys could not be read: \(error.message)")
        }
        keys = (set, clock.now())
        return set
    }
}

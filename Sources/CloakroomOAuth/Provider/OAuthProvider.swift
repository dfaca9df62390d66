public import CloakroomCore
public import CloakroomTokens
public import Foundation

/// Cloakroom as an OAuth 2.1 authorization server and OpenID provider, without HTTP: the routes
/// hand it a request's query, form and `Authorization` header and send back what it returns.
///
/// - ``step(for:userID:authTime:interactionStarted:sessionHandle:)`` decides what `GET /authorize` does next:
///   sign in, show the consent page, or send the browser back with a code or an error.
/// - ``token(body:authorization:)`` is `POST /token` (authorization code, refresh token, client
///   credentials), ``revoke(body:authorization:)`` RFC 7009, ``introspect(body:authorization:)``
///   RFC 7662, ``metadata(openID:scopes:idTokenAlgorithm:)`` RFC 8414 and OpenID Connect Discovery.
public struct OAuthProvider: Sendable {
    /// This server's issuer identifier (`iss`), an URL without query or fragment; the endpoints
    /// are paths under it.
    public let issuer: String
    public let clients: any OAuthClientStore
    public let consents: any ConsentStore
    public let codes: AuthorizationCodes
    public let tokens: TokenService
    public let idTokens: IDTokenIssuer
    let clock: any CloakroomClock

    /// Scopes that speak of a user: refused for `client_credentials`, where no user is involved.
    public static let userScopes: Set<String> = ["openid", "profile", "email", "offline_access"]
    /// The `sub` prefix of a token a client obtained for itself (`client_credentials`): such a
    /// token can never be taken for a user's (RFC 9068 §5).
    public static let clientSubjectPrefix = "client:"

    public init(
        issuer: String,
        clients: any OAuthClientStore,
        consents: any ConsentStore,
        codes: AuthorizationCodes,
        tokens: TokenService,
        idTokens: IDTokenIssuer,
        clock: any CloakroomClock = SystemClock()
    ) {
        self.issuer = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        self.clients = clients
        self.consents = consents
        self.codes = codes
        self.tokens = tokens
        self.idTokens = idTokens
        self.clock = clock
    }

    // MARK: - Authorization endpoint

    /// What `GET /authorize` does next for a valid request.
    public enum Step: Sendable, Equatable {
        /// The browser must sign in (again, for `prompt=login` or an old sign-in under `max_age`).
        case signIn
        /// Show the consent page; `newScopes` are those the user has not allowed this client yet.
        case consent(newScopes: Scope)
        /// Send the browser to this URL (a code or an error, with `state` and `iss`).
        case redirect(String)
    }

    /// The next step for `request`, given who is signed in (`userID`, signed in at `authTime`)
    /// and, when the request already sent the browser to sign in, since when
    /// (`interactionStarted`: a sign-in after it satisfies `prompt=login` and `max_age`).
    public func step(
        for request: AuthorizationRequest,
        userID: String?,
        authTime: Date?,
        interactionStarted: Date?,
        sessionHandle: String?
    )
        async throws -> Step
    {
        let now = clock.now()
        guard let userID, let authTime else {
            return request.prompt.contains("none") ? .redirect(error(.loginRequired("the user is not signed in"), request)) : .signIn
        }
        let freshSignIn = interactionStarted.map { authTime >= $0 } ?? false
        if request.prompt.contains("login"), !freshSignIn { return .signIn }
        if let maxAge = request.maxAge, now.timeIntervalSince(authTime) > Double(maxAge), !freshSignIn {
            return request.prompt.contains("none")
                ? .redirect(error(.loginRequired("the sign-in is older than max_age"), request)) : .signIn
        }
        let granted = try await consents.consent(userID: userID, clientID: request.client.id)?.scope ?? Scope([])
        let missing = Scope(request.scope.tokens.subtracting(granted.tokens))
        if request.prompt.contains("consent") || !missing.isEmpty {
            if request.prompt.contains("none") {
                return .redirect(error(.consentRequired("the user has not allowed this client these scopes"), request))
            }
            return .consent(newScopes: request.prompt.contains("consent") ? request.scope : missing)
        }
        return .redirect(try await approve(request, userID: userID, authTime: authTime, sessionHandle: sessionHandle, recordConsent: false))
    }

    /// The user allowed `request` on the consent page: the consent is remembered (with what was
    /// allowed before) and the browser goes back with a code.
    public func approve(
        _ request: AuthorizationRequest,
        userID: String,
        authTime: Date,
        sessionHandle: String?,
        recordConsent: Bool = true
    )
        async throws -> String
    {
        if recordConsent {
            let earlier = try await consents.consent(userID: userID, clientID: request.client.id)?.scope.tokens ?? []
            try await consents.record(
                Consent(userID: userID, clientID: request.client.id, scope: Scope(earlier.union(request.scope.tokens)), grantedAt: clock.now())
            )
        }
        let code = try await codes.issue(for: request, userID: userID, authTime: authTime, sessionHandle: sessionHandle)
        var pairs = [("code", code)]
        if let state = request.state { pairs.append(("state", state)) }
        pairs.append(("iss", issuer))
        return OAuthError.appending(pairs, to: request.redirectURI)
    }

    /// The user refused on the consent page.
    public func deny(_ request: AuthorizationRequest) -> String {
        error(.accessDenied("the user did not allow this client"), request)
    }

    func error(_ error: OAuthError, _ request: AuthorizationRequest) -> String {
        error.redirect(to: request.redirectURI, state: request.state, issuer: issuer)
    }

    // MARK: - Token endpoint

    /// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
    public struct TokenResponse: Sendable, Encodable {
        public let accessToken: String
        public let tokenType = "Bearer"
        public let expiresIn: Int
        public let refreshToken: String?
        public let scope: String
        public let idToken: String?

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
            case refreshToken = "refresh_token"
            case scope
            case idToken = "id_token"
        }
    }

    /// `POST /token`. `body` is the request body (`application/x-www-form-urlencoded`), checked
    /// here: no parameter may appear twice (RFC 6749 §3.2). Throws `OAuthError`; other errors are
    /// a store that failed.
    public func token(body: String, authorization: String?) async throws -> TokenResponse {
        let form = try Self.form(body)
        let client = try await ClientAuthentication.read(authorization: authorization, form: form)
            .authenticate(in: clients, assertions: assertionContext("/token"))
        switch form["grant_type"] {
        case nil, "":
            throw OAuthError.invalidRequest("grant_type is required")
        case "authorization_code":
            guard let code = form["code"], !code.isEmpty else { throw OAuthError.invalidRequest("code is required") }
            let redemption = try await codes.redeem(code, clientID: client.id, redirectURI: form["redirect_uri"], codeVerifier: form["code_verifier"])
            guard try await allowed(userID: redemption.grant.userID, clientID: client.id) else {
                try await tokens.revoke(redemption.tokens.refreshToken)
                throw OAuthError.invalidGrant("the user has withdrawn this application's access")
            }
            var idToken: String?
            if redemption.grant.scope.split(separator: " ").contains("openid") {
                idToken = try idTokens.issue(
                    subject: redemption.grant.userID,
                    clientID: client.id,
                    authTime: redemption.grant.authTime,
                    nonce: redemption.grant.nonce,
                    accessToken: redemption.tokens.accessToken,
                    sessionID: redemption.grant.sessionHandle
                ).token
            }
            return response(redemption.tokens, idToken: idToken)
        case "refresh_token":
            guard let refreshToken = form["refresh_token"], !refreshToken.isEmpty else {
                throw OAuthError.invalidRequest("refresh_token is required")
            }
            if let token = SecureToken(validating: refreshToken),
                let record = try await tokens.store.refreshToken(key: token.hashed, now: clock.now()),
                record.clientID == client.id
            {
                // Consent withdrawn on the account page: the sign-in ends here.
                guard try await allowed(userID: record.userID, clientID: client.id) else {
                    try await tokens.revoke(refreshToken)
                    throw OAuthError.invalidGrant("the user has withdrawn this application's access")
                }
                if let text = form["scope"] {
                    let asked: Scope
                    do { asked = try Scope(parsing: text) } catch { throw OAuthError.invalidScope(error.description) }
                    // RFC 6749 §6: a refresh never widens what the user granted.
                    let extra = asked.tokens.subtracting(record.scope.split(separator: " ").map(String.init))
                    guard extra.isEmpty else {
                        throw OAuthError.invalidScope("a refresh cannot add scopes that were not granted: \(extra.sorted().joined(separator: " "))")
                    }
                }
            } else if let text = form["scope"] {
                do { _ = try Scope(parsing: text) } catch { throw OAuthError.invalidScope(error.description) }
            }
            do {
                return response(try await tokens.refresh(refreshToken, clientID: client.id), idToken: nil)
            } catch let error as TokenService.RefreshError {
                throw OAuthError.invalidGrant(error.message)
            }
        case "client_credentials":
            guard !client.isPublic else { throw OAuthError.unauthorizedClient("a public client cannot use client_credentials") }
            let scope: Scope
            if let text = form["scope"] {
                do { scope = try Scope(parsing: text) } catch { throw OAuthError.invalidScope(error.description) }
                let userScopes = scope.tokens.intersection(Self.userScopes)
                guard userScopes.isEmpty else {
                    throw OAuthError.invalidScope("\(userScopes.sorted().joined(separator: " ")) speak of a user; client_credentials involves none")
                }
                let extra = scope.tokens.subtracting(client.scopes.tokens)
                guard extra.isEmpty else { throw OAuthError.invalidScope("this client may not ask for \(extra.sorted().joined(separator: " "))") }
            } else {
                scope = Scope(client.scopes.tokens.subtracting(Self.userScopes))
            }
            let (accessToken, claims) = try await tokens.issuer.issue(
                subject: Self.clientSubjectPrefix + client.id,
                audience: tokens.configuration.audience,
                clientID: client.id,
                scope: scope.description,
                epoch: 0
            )
            return TokenResponse(
                accessToken: accessToken,
                expiresIn: Int(claims.expiresAt.timeIntervalSince(claims.issuedAt).rounded()),
                refreshToken: nil,
                scope: scope.description,
                idToken: nil
            )
        case "password":
            throw OAuthError.unsupportedGrantType(
                "the password grant is not offered to OAuth clients (OAuth 2.1); send the user through /authorize"
            )
        case let other?:
            throw OAuthError.unsupportedGrantType("grant_type \(other.prefix(64)) is not supported")
        }
    }

    /// Whether the user still allows the client (a consent exists): withdrawing it on the account
    /// page ends the client's codes, refreshes, `/userinfo` and introspection for that user.
    public func allowed(userID: String, clientID: String) async throws -> Bool {
        try await consents.consent(userID: userID, clientID: clientID) != nil
    }

    /// How client assertions are checked at the endpoint at `path`: `aud` may be the issuer, the
    /// token endpoint (OpenID Connect Core §9 names it for every endpoint) or that endpoint.
    func assertionContext(_ path: String) -> ClientAuthentication.AssertionContext {
        .init(
            audiences: [issuer, issuer + "/token", issuer + path],
            tokens: tokens,
            clock: clock,
            leeway: tokens.verifier.configuration.leeway
        )
    }

    func response(_ grant: TokenService.Grant, idToken: String?) -> TokenResponse {
        TokenResponse(
            accessToken: grant.accessToken,
            expiresIn: grant.expiresIn,
            refreshToken: grant.refreshToken,
            scope: grant.scope,
            idToken: idToken
        )
    }

    // MARK: - Revocation and introspection

    /// `POST /revoke` (RFC 7009): the authenticated client revokes one of its own tokens. A refresh
    /// token ends its whole family (access tokens included); an access token goes on the
    /// deny-list. An unknown or expired token is not an error. Another client's token is refused
    /// (`unauthorized_client`) and left working.
    public func revoke(body: String, authorization: String?) async throws {
        let form = try Self.form(body)
        let client = try await ClientAuthentication.read(authorization: authorization, form: form)
            .authenticate(in: clients, assertions: assertionContext("/revoke"))
        guard let token = form["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required") }
        guard let owner = try await owner(of: token) else { return }
        guard ConstantTime.equals(owner, client.id) else {
            throw OAuthError.unauthorizedClient("this token was issued to another client")
        }
        try await tokens.revoke(token)
    }

    /// The client a live token of ours was issued to, or nil.
    func owner(of token: String) async throws -> String? {
        if let refresh = SecureToken(validating: token) {
            return try await tokens.store.refreshToken(key: refresh.hashed, now: clock.now())?.clientID
        }
        return (try? await tokens.authenticate(token))?.clientID
    }

    /// `POST /introspect` (RFC 7662), for confidential clients: what a token is, when it is
    /// active and issued to the asking client or meant for it (its `aud`); `{"active": false}`
    /// for anything else, so a client learns nothing of other clients' tokens.
    public func introspect(body: String, authorization: String?) async throws -> [String: OAuthJSON] {
        let form = try Self.form(body)
        let credentials = try ClientAuthentication.read(authorization: authorization, form: form)
        if case .none = credentials { throw OAuthError.invalidClient("introspection is for confidential clients: authenticate with the secret") }
        let client = try await credentials.authenticate(in: clients, assertions: assertionContext("/introspect"))
        guard let token = form["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required") }
        let inactive: [String: OAuthJSON] = ["active": .bool(false)]
        if let refresh = SecureToken(validating: token) {
            guard let record = try await tokens.store.refreshToken(key: refresh.hashed, now: clock.now()) else { return inactive }
            guard ConstantTime.equals(record.clientID, client.id), try await allowed(userID: record.userID, clientID: record.clientID) else {
                return inactive
            }
            return [
                "active": .bool(true), "token_type": .string("refresh_token"), "client_id": .string(record.clientID),
                "sub": .string(record.userID), "scope": .string(record.scope), "iss": .string(issuer),
                "iat": OAuthJSON.seconds(record.issuedAt), "exp": OAuthJSON.seconds(min(record.expiresAt, record.familyExpiresAt)),
            ]
        }
        guard let claims = try? await tokens.authenticate(token) else { return inactive }
        guard ConstantTime.equals(claims.clientID, client.id) || claims.audience.contains(client.id) else { return inactive }
        if !claims.subject.hasPrefix(Self.clientSubjectPrefix), !(try await allowed(userID: claims.subject, clientID: claims.clientID)) {
            return inactive
        }
        var answer: [String: OAuthJSON] = [
            "active": .bool(true), "token_type": .string("Bearer"), "client_id": .string(claims.clientID),
            "sub": .string(claims.subject), "scope": .string(claims.scope), "iss": .string(claims.issuer),
            "aud": .array(claims.audience.map(OAuthJSON.string)), "jti": .string(claims.tokenID),
            "iat": OAuthJSON.seconds(claims.issuedAt), "exp": OAuthJSON.seconds(claims.expiresAt),
        ]
        if let sid = claims.sessionID { answer["sid"] = .string(sid) }
        return answer
    }

    // MARK: - Metadata

    /// The authorization server metadata (RFC 8414), with OpenID Connect Discovery's fields when
    /// `openID`; `idTokenAlgorithm` is what ID tokens are signed with.
    public func metadata(openID: Bool, scopes: [String], idTokenAlgorithm: String) -> [String: OAuthJSON] {
        func url(_ path: String) -> OAuthJSON { .string(issuer + path) }
        func list(_ items: [String]) -> OAuthJSON { .array(items.map(OAuthJSON.string)) }
        var document: [String: OAuthJSON] = [
            "issuer": .string(issuer),
            "authorization_endpoint": url("/authorize"),
            "token_endpoint": url("/token"),
            "jwks_uri": url("/.well-known/jwks.json"),
            "revocation_endpoint": url("/revoke"),
            "introspection_endpoint": url("/introspect"),
            "response_types_supported": list(["code"]),
            "response_modes_supported": list(["query"]),
            "grant_types_supported": list(["authorization_code", "refresh_token", "client_credentials"]),
            "code_challenge_methods_supported": list([PKCE.method]),
            "token_endpoint_auth_methods_supported": list(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
            "token_endpoint_auth_signing_alg_values_supported": list(["RS256", "PS256", "ES256", "ES384", "EdDSA"]),
            "revocation_endpoint_auth_methods_supported": list(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
            "introspection_endpoint_auth_methods_supported": list(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
            "scopes_supported": list(scopes),
            "authorization_response_iss_parameter_supported": .bool(true),
            "service_documentation": url("/docs/oauth"),
        ]
        if openID {
            document["userinfo_endpoint"] = url("/userinfo")
            document["end_session_endpoint"] = url("/end-session")
            document["backchannel_logout_supported"] = .bool(true)
            document["backchannel_logout_session_supported"] = .bool(true)
            document["subject_types_supported"] = list(["public"])
            document["id_token_signing_alg_values_supported"] = list([idTokenAlgorithm])
            document["claims_supported"] = list([
                "sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "preferred_username", "name",
            ])
            document["prompt_values_supported"] = list(["none", "login", "consent", "select_account"])
            document["claims_parameter_supported"] = .bool(false)
            document["request_parameter_supported"] = .bool(false)
            document["request_uri_parameter_supported"] = .bool(false)
        }
        return document
    }

    /// The fields of a form body; a parameter given twice is `invalid_request` (RFC 6749 §3.2).
    static func form(_ body: String) throws(OAuthError) -> [String: String] {
        guard let pairs = FormURLEncoded.pairs(body) else { throw OAuthError.invalidRequest("the body is not valid form-urlencoded UTF-8") }
        var fields: [String: String] = [:]
        for (name, value) in pairs {
            guard fields[name] == nil else { throw OAuthError.invalidRequest("\(name.prefix(64)) is given more than once") }
            fields[name] = value
        }
        return fields
    }
}

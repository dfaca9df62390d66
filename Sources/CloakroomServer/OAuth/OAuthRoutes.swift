import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomOAuth
import CloakroomSessions
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore

/// Cloakroom as an OAuth 2.1 authorization server and OpenID provider over HTTP: `GET /authorize`
/// (sign-in, the consent page, the redirect back), `POST /authorize` (the consent form),
/// `POST /token`, `POST /revoke`, `POST /introspect`, `GET|POST /userinfo`, and the metadata at
/// `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server` (routed in
/// `TokenRoutes`, beside the JWK Set). The decisions are `OAuthProvider`'s; this moves requests and answers.
struct OAuthRoutes {
    let services: AppServices
    let library: MustacheLibrary

    /// The session key of an authorization request waiting for the browser to sign in: the time
    /// it was made (a sign-in after it satisfies `prompt=login` and `max_age`) and its query.
    static let pendingKey = "_oauth_pending"

    /// Paths that take no cookie and are called by other sites' servers and scripts: not subject
    /// to the origin check of forms.
    static let machinePaths: Set<String> = ["/token", "/revoke", "/introspect", "/userinfo", exampleResourcePath]

    /// The example resource route: what a resource server does with an access token (docs/oauth.md).
    static let exampleResourcePath = "/resource/example"
    /// The scope it requires.
    static let exampleScope = "example:read"

    func addRoutes(to router: Router<CloakroomRequestContext>) {
        router.get("/authorize", use: authorize)
        router.post("/authorize", use: decide)
        router.get("/authorize/resume", use: resume)
        router.post("/token", use: token)
        router.post("/revoke", use: revoke)
        router.post("/introspect", use: introspect)
        router.get("/userinfo", use: userinfo)
        router.post("/userinfo", use: userinfo)
        router.get(RouterPath(Self.exampleResourcePath), use: exampleResource)
        router.get("/end-session", use: endSession)
        router.post("/end-session", use: endSessionDecision)
    }

    var provider: OAuthProvider { services.oauth }

    // MARK: - Authorization endpoint

    @Sendable func authorize(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        try await handle(query: request.uri.query ?? "", interactionStarted: nil, context: context)
    }

    /// After the sign-in an authorization request sent the browser to: the request again, as if
    /// it had just arrived, with a sign-in after it counting as fresh.
    @Sendable func resume(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        guard let pending = Self.pending(in: session) else { return redirect("/account") }
        session.removeValue(forKey: Self.pendingKey)
        return try await handle(query: pending.query, interactionStarted: pending.since, context: context)
    }

    func handle(query: String, interactionStarted: Date?, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let checked = try await AuthorizationRequest.check(query: query) { try await services.backends.clients.client(id: $0) }
        let request: AuthorizationRequest
        switch checked {
        case .refused(let error):
            // Never redirected: the client or its redirect URI cannot be trusted (RFC 9700 §4.11).
            return try await refusedPage(error, session: session)
        case .redirect(let error, let redirectURI, let state):
            return redirect(error.redirect(to: redirectURI, state: state, issuer: provider.issuer))
        case .valid(let valid):
            request = valid
        }
        let account = try await services.currentAccount(session)
        let step = try await provider.step(
            for: request,
            userID: account?.id,
            authTime: session.record?.authenticatedAt,
            interactionStarted: interactionStarted,
            sessionHandle: session.handle
        )
        switch step {
        case .redirect(let location):
            if URLComponents(string: location)?.queryItems?.contains(where: { $0.name == "code" }) == true {
                BackChannelLogout.remember(request.client.id, in: session)
            }
            return redirect(location)
        case .signIn:
            let since = interactionStarted ?? services.clock.now()
            session.setValue("\(since.timeIntervalSince1970)|\(query)", forKey: Self.pendingKey)
            return redirect("/login?oauth=1")
        case .consent(let newScopes):
            guard let account else { return redirect("/login") }
            return consentPage(request, newScopes: newScopes, query: query, account: account, session: session)
        }
    }

    /// The consent form: allow or deny, for the request it carries (checked again, so a tampered
    /// field can only make a request the client could have made itself).
    @Sendable func decide(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        let query = form["request"] ?? ""
        guard let account = try await services.currentAccount(session) else {
            session.setValue("\(services.clock.now().timeIntervalSince1970)|\(query)", forKey: Self.pendingKey)
            return redirect("/login?notice=ended")
        }
        guard session.verifyCSRF(form["csrf_token"]) else {
            // A stale or forged form: ask again rather than act.
            return try await handle(query: query, interactionStarted: nil, context: context)
        }
        let checked = try await AuthorizationRequest.check(query: query) { try await services.backends.clients.client(id: $0) }
        guard case .valid(let authorization) = checked else {
            return try await handle(query: query, interactionStarted: nil, context: context)
        }
        switch form["decision"] {
        case "allow":
            let location = try await provider.approve(
                authorization,
                userID: account.id,
                authTime: session.record?.authenticatedAt ?? services.clock.now(),
                sessionHandle: session.handle
            )
            BackChannelLogout.remember(authorization.client.id, in: session)
            services.logger.info("oauth consent given", metadata: ["user": "\(account.id)", "client": "\(authorization.client.id)"])
            return redirect(location)
        case "deny":
            return redirect(provider.deny(authorization))
        default:
            throw APIError.invalidField("decision", "must be allow or deny")
        }
    }

    /// What each scope lets a client do, in words for the consent page.
    static func describe(_ scope: String) -> String {
        switch scope {
        case "openid": "confirm who you are (your Cloakroom user ID)"
        case "profile": "see your username"
        case "email": "see your email address, if your account has one"
        case "offline_access": "keep access while you are away (a refresh token)"
        default: "use the permission “\(scope)” it defines"
        }
    }

    func consentPage(_ request: AuthorizationRequest, newScopes: Scope, query: String, account: Account, session: Session) -> Response {
        let order = ["openid", "profile", "email", "offline_access"]
        let sorted = newScopes.tokens.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }
        let page = ConsentPage(
            clientName: request.client.name,
            clientID: request.client.id,
            destination: Self.origin(of: request.redirectURI),
            username: account.username,
            scopes: sorted.map { ConsentPage.ScopeRow(name: $0, text: Self.describe($0)) },
            nothingNew: sorted.isEmpty,
            request: query
        )
        let view = PageView(
            title: "Allow \(request.client.name)?",
            registrationOpen: services.configuration.registrationOpen,
            user: PageUser(username: account.username),
            csrf: session.csrfToken(),
            bare: false,
            page: page
        )
        return PageRoutes.render(library, "consent", view, headers: Self.formPolicy(sendingTo: request.redirectURI))
    }

    /// The page's `Content-Security-Policy` with `form-action` widened to the client's redirect
    /// URI: browsers apply `form-action` to the redirects that follow a form too, so with the
    /// default `'self'` the consent (or sign-in) form could never send the browser back to the
    /// client. Only that one origin (or private-use scheme) is added.
    static func formPolicy(sendingTo redirectURI: String) -> HTTPFields {
        let source = origin(of: redirectURI)
        // A registered redirect URI has no spaces or semicolons; any character outside these
        // could change the policy's meaning, so such a source is left out.
        let allowed = source.unicodeScalars.allSatisfy {
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || ":/.-+[]".unicodeScalars.contains($0))
        }
        let formAction = allowed ? "'self' " + source : "'self'"
        return [
            .contentSecurityPolicy:
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action \(formAction); frame-ancestors 'none'; base-uri 'none'"
        ]
    }

    /// The redirect URI an authorization request waiting in `session` will send the browser to
    /// (its `redirect_uri`, else the client's only one), for the sign-in page's policy.
    func pendingRedirectURI(_ session: Session) async throws -> String? {
        guard let pending = Self.pending(in: session), let pairs = FormURLEncoded.pairs(pending.query) else { return nil }
        if let given = pairs.first(where: { $0.name == "redirect_uri" })?.value { return given }
        guard let clientID = pairs.first(where: { $0.name == "client_id" })?.value else { return nil }
        return try await services.backends.clients.client(id: clientID)?.redirectURIs.first
    }

    func refusedPage(_ error: OAuthError, session: Session) async throws -> Response {
        let account = try await services.currentAccount(session)
        let page = ErrorPage(
            heading: "This sign-in request cannot be used",
            message:
                "The application that sent you here made a request Cloakroom will not act on (\(error.code): \(error.message)). Nothing was shared with it."
        )
        let view = PageView(
            title: page.heading,
            registrationOpen: services.configuration.registrationOpen,
            user: account.map { PageUser(username: $0.username) },
            csrf: account != nil ? session.csrfToken() : nil,
            bare: false,
            page: page
        )
        return PageRoutes.render(library, "error", view, status: .badRequest)
    }

    /// `scheme://host[:port]` of a URI, for the consent page's "you will be sent back to".
    static func origin(of uri: String) -> String {
        guard let components = URLComponents(string: uri), let scheme = components.scheme else { return uri }
        guard let host = components.host, !host.isEmpty else { return scheme + ":" }
        return scheme + "://" + host + (components.port.map { ":\($0)" } ?? "")
    }

    static func pending(in session: Session) -> (since: Date, query: String)? {
        guard let text = session.value(forKey: pendingKey), let bar = text.firstIndex(of: "|"),
            let seconds = Double(text[..<bar])
        else { return nil }
        return (Date(timeIntervalSince1970: seconds), String(text[text.index(after: bar)...]))
    }

    // MARK: - RP-initiated logout

    /// Where a logout request may send the browser: the client it names (`client_id`, or the
    /// `aud` of `id_token_hint`, which only names the client: it is not trusted for more) and
    /// one of that client's registered post-logout redirect URIs, exactly; else the reason.
    func logoutTarget(_ fields: [String: String]) async throws -> (client: OAuthClient?, redirectURI: String?, refusal: String?) {
        var clientID = fields["client_id"].flatMap { $0.isEmpty ? nil : $0 }
        if let hint = fields["id_token_hint"], !hint.isEmpty {
            guard let audience = Self.audience(ofIDToken: hint, issuer: provider.issuer) else {
                return (nil, nil, "id_token_hint is not an ID token issued here")
            }
            if let named = clientID, named != audience { return (nil, nil, "client_id differs from the audience of id_token_hint") }
            clientID = audience
        }
        var client: OAuthClient?
        if let clientID { client = try await services.backends.clients.client(id: clientID) }
        if clientID != nil, client == nil { return (nil, nil, "unknown client_id") }
        guard let uri = fields["post_logout_redirect_uri"], !uri.isEmpty else { return (client, nil, nil) }
        guard let client else { return (nil, nil, "post_logout_redirect_uri needs client_id or id_token_hint to name the client") }
        guard client.postLogoutRedirectURIs.contains(uri) else {
            return (client, nil, "post_logout_redirect_uri is not registered for this client")
        }
        return (client, uri, nil)
    }

    /// `GET /end-session` (OpenID Connect RP-Initiated Logout 1.0): a signed-in browser is asked to
    /// confirm (a link cannot sign anyone out); one already signed out goes straight on.
    @Sendable func endSession(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        guard let fields = FormURLEncoded.parse(request.uri.query ?? "") else {
            return try await refusedPage(.invalidRequest("the query is not valid percent-encoded UTF-8"), session: session)
        }
        let target = try await logoutTarget(fields)
        if let refusal = target.refusal { return try await refusedPage(.invalidRequest(refusal), session: session) }
        guard let account = try await services.currentAccount(session) else {
            return redirect(Self.afterLogout(target.redirectURI, state: fields["state"]))
        }
        let page = EndSessionPage(
            clientName: target.client?.name,
            clientID: target.client?.id ?? "",
            username: account.username,
            redirectURI: target.redirectURI ?? "",
            state: fields["state"] ?? ""
        )
        let view = PageView(
            title: "Sign out?",
            registrationOpen: services.configuration.registrationOpen,
            user: PageUser(username: account.username),
            csrf: session.csrfToken(),
            bare: false,
            page: page
        )
        return PageRoutes.render(library, "endSession", view, headers: target.redirectURI.map(Self.formPolicy(sendingTo:)) ?? [:])
    }

    /// The confirmation form: sign out (CSRF-checked; the target is checked again), then on to
    /// the client's post-logout redirect URI with `state`, or to the home page.
    @Sendable func endSessionDecision(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        let target = try await logoutTarget(form.filter { ["client_id", "post_logout_redirect_uri"].contains($0.key) })
        if let refusal = target.refusal { return try await refusedPage(.invalidRequest(refusal), session: session) }
        if session.userID != nil {
            guard session.verifyCSRF(form["csrf_token"]) else { return redirect("/account") }
            guard form["decision"] == "logout" else { return redirect("/account") }
            try await services.endSession(session)
            services.logger.info("signed out at a relying party's request", metadata: ["client": "\(target.client?.id ?? "-")"])
        }
        var response = redirect(Self.afterLogout(target.redirectURI, state: form["state"].flatMap { $0.isEmpty ? nil : $0 }))
        response.headers[HTTPField.Name("Clear-Site-Data")!] = "\"cache\""
        return response
    }

    static func afterLogout(_ redirectURI: String?, state: String?) -> String {
        guard let redirectURI else { return "/" }
        guard let state else { return redirectURI }
        return OAuthError.appending([("state", state)], to: redirectURI)
    }

    /// The `aud` of an ID token issued here (`iss` must be ours), read without checking the
    /// signature or the expiry: an expired hint is normal, and it only names the client.
    static func audience(ofIDToken token: String, issuer: String) -> String? {
        guard let claims = (try? UnverifiedToken(decoding: token))?.claims, claims["iss"] as? String == issuer else { return nil }
        if let audience = claims["aud"] as? String { return audience }
        if let audiences = claims["aud"] as? [String], audiences.count == 1 { return audiences[0] }
        return claims["azp"] as? String
    }

    // MARK: - Token, revocation, introspection

    @Sendable func token(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let body = try await Self.formBody(request)
        do {
            let answer = try await provider.token(body: body, authorization: request.headers[.authorization])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Self.json(try encoder.encode(answer))
        } catch let error as OAuthError {
            return Self.oauthError(error, request: request)
        }
    }

    @Sendable func revoke(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let body = try await Self.formBody(request)
        do {
            try await provider.revoke(body: body, authorization: request.headers[.authorization])
            return Response(status: .ok, headers: [.cacheControl: "no-store"])
        } catch let error as OAuthError {
            return Self.oauthError(error, request: request)
        }
    }

    @Sendable func introspect(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let body = try await Self.formBody(request)
        do {
            return Self.json(OAuthJSON.encode(try await provider.introspect(body: body, authorization: request.headers[.authorization])))
        } catch let error as OAuthError {
            return Self.oauthError(error, request: request)
        }
    }

    // MARK: - UserInfo

    /// OpenID Connect Core §5.3: the signed-in user's claims for an access token with `openid`
    /// (`sub`; `preferred_username` and `name` with `profile`; with `email`, `email` when the
    /// username is an email address, always with `email_verified: false`). The token comes in the
    /// `Authorization` header, or (POST) as `access_token` in the form (RFC 6750 §2.2).
    @Sendable func userinfo(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        var token = try BearerTokenMiddleware<CloakroomRequestContext>.presentedToken(request, cookies: nil)
        if token == nil, request.method == .post, Bodies.mediaType(request) == "application/x-www-form-urlencoded" {
            token = try await Bodies.form(from: request)["access_token"]
        }
        let claims: AccessTokenClaims
        switch try await verified(token, needing: "openid", "the token was not issued with the openid scope") {
        case .success(let verified): claims = verified
        case .failure(let refusal): return refusal.response
        }
        let scope = Set(claims.scope.split(separator: " ").map(String.init))
        guard let account = try await services.account(for: claims) else {
            return Self.bearerError(.unauthorized, "invalid_token", "the account of this token no longer exists or is disabled")
        }
        if claims.clientID != services.tokens.configuration.clientID, !(try await provider.allowed(userID: account.id, clientID: claims.clientID)) {
            return Self.bearerError(.unauthorized, "invalid_token", "the user has withdrawn this application's access")
        }
        var claimsOut: [String: OAuthJSON] = ["sub": .string(account.id)]
        if scope.contains("profile") {
            claimsOut["preferred_username"] = .string(account.username)
            claimsOut["name"] = .string(account.username)
        }
        // An account's username may be an email address; Cloakroom has never verified it.
        if scope.contains("email"), account.username.contains("@") {
            claimsOut["email"] = .string(account.username)
            claimsOut["email_verified"] = .bool(false)
        }
        var response = Self.json(OAuthJSON.encode(claimsOut))
        response.headers.append(HTTPField(name: .vary, value: "Authorization"))
        return response
    }

    // MARK: - Example resource

    /// How a resource server checks an access token (RFC 6750, RFC 9068): the token verified and
    /// not revoked (else 401 `invalid_token`), then the scope this route needs, `example:read`
    /// (else 403 `insufficient_scope`, with the scope named in `WWW-Authenticate`). Register a
    /// client with `--scope "openid example:read"` to try it.
    @Sendable func exampleResource(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let token = try BearerTokenMiddleware<CloakroomRequestContext>.presentedToken(request, cookies: nil)
        let claims: AccessTokenClaims
        switch try await verified(token, needing: Self.exampleScope, "this resource needs the scope \(Self.exampleScope)") {
        case .success(let verified): claims = verified
        case .failure(let refusal): return refusal.response
        }
        let answer: [String: OAuthJSON] = [
            "message": .string("a resource only tokens with \(Self.exampleScope) may read"),
            "sub": .string(claims.subject), "client_id": .string(claims.clientID), "scope": .string(claims.scope),
        ]
        return Self.json(OAuthJSON.encode(answer))
    }

    /// What a protected resource does first (RFC 6750 §3): a token must be presented (else 401
    /// without an error code), verified and not revoked (else 401 `invalid_token`), and carry
    /// `scope` (else 403 `insufficient_scope` naming it, with `message`).
    func verified(_ token: String?, needing scope: String, _ message: String) async throws -> Result<AccessTokenClaims, Refusal> {
        guard let token, !token.isEmpty else {
            return .failure(Refusal(Self.bearerError(.unauthorized, "invalid_token", "an access token is required", bare: true)))
        }
        let claims: AccessTokenClaims
        do {
            claims = try await services.tokens.authenticate(token)
        } catch let error as TokenError {
            return .failure(Refusal(Self.bearerError(.unauthorized, "invalid_token", error.message)))
        }
        guard claims.scope.split(separator: " ").contains(Substring(scope)) else {
            return .failure(Refusal(Self.bearerError(.forbidden, "insufficient_scope", message, scope: scope)))
        }
        return .success(claims)
    }

    // MARK: - Metadata

    /// `/.well-known/openid-configuration` (with `openID`) and `/.well-known/oauth-authorization-server`,
    /// routed beside the JWK Set (`TokenRoutes`) since they are part of the JSON API's document.
    static func metadata(services: AppServices, openID: Bool) async throws -> Response {
        let provider = services.oauth
        let algorithm = (try? services.idTokenKeys.signingAlgorithm())?.name ?? "RS256"
        let scopes = Set(try await services.backends.clients.all().flatMap(\.scopes.tokens)).union(OAuthClient.defaultScopes.tokens)
        let document = OAuthJSON.encode(provider.metadata(openID: openID, scopes: scopes.sorted(), idTokenAlgorithm: algorithm))
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(bytes: document))
        )
    }

    // MARK: - Helpers

    func redirect(_ location: String) -> Response { Self.redirect(location) }

    /// A 303 that no cache keeps (it may carry a code or a state).
    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func json(_ data: Data) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store", HTTPField.Name("Pragma")!: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// The body of a token, revocation or introspection request: form-encoded, at most 64 KiB.
    static func formBody(_ request: Request) async throws -> String {
        guard Bodies.mediaType(request) == "application/x-www-form-urlencoded" else {
            throw APIError.unsupportedMediaType("application/x-www-form-urlencoded").oauth()
        }
        let buffer = try await Bodies.collect(request)
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw APIError(.badRequest, code: "invalid_request", message: "the body is not valid UTF-8").oauth()
        }
        return text
    }

    /// RFC 6749 §5.2: `{"error", "error_description"}`; a failed Basic authentication is 401
    /// with `WWW-Authenticate: Basic`.
    static func oauthError(_ error: OAuthError, request: Request) -> Response {
        var headers: HTTPFields = [HTTPField.Name("Pragma")!: "no-cache"]
        if error.status == 401 {
            let basic = request.headers[.authorization]?.lowercased().hasPrefix("basic") == true
            headers[.wwwAuthenticate] = basic ? "Basic realm=\"cloakroom\"" : "Basic realm=\"cloakroom\", error=\"invalid_client\""
        }
        return APIError.jsonResponse(
            status: HTTPResponse.Status(code: error.status),
            code: error.code,
            message: error.message,
            headers: headers,
            oauth: true
        )
    }

    /// RFC 6750 §3: an error of a protected resource, in `WWW-Authenticate` and the body.
    static func bearerError(_ status: HTTPResponse.Status, _ code: String, _ message: String, scope: String? = nil, bare: Bool = false) -> Response {
        var challenge = "Bearer realm=\"cloakroom\""
        if !bare {
            let description = String(message.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" })
            challenge += ", error=\"\(code)\", error_description=\"\(description)\""
            if let scope { challenge += ", scope=\"\(scope)\"" }
        }
        return APIError.jsonResponse(status: status, code: code, message: message, headers: [.wwwAuthenticate: challenge], oauth: true)
    }
}

/// A response that ends a request early (a refusal), carried as an error so a helper can hand it
/// back through `Result`.
struct Refusal: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

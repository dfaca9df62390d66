import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomOAuth
import CloakroomSessions
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The JSON API: `/api/register`, `/api/login`, `/api/logout`, `/api/me`, `/api/sessions`, `/healthz`.
struct APIRoutes {
    let services: AppServices

    struct Credentials: Decodable {
        let username: String
        let password: String
        /// "Keep me signed in" (`/api/login` only).
        let remember: Bool?
    }

    struct UserView: Encodable {
        let id: String
        let username: String
    }

    struct SessionView: Encodable {
        let id: String
        let current: Bool
        let createdAt: Date
        let lastSeenAt: Date
        let authenticatedAt: Date?
        let expiresAt: Date
        let idleExpiresAt: Date
        let absoluteExpiresAt: Date
        let userAgent: String?
        let ipAddress: String?
    }

    struct TokenView: Encodable {
        let clientID: String
        let scope: String
        let issuedAt: Date
        let expiresAt: Date
        let sessionID: String?
    }

    /// Who is calling: `session` for cookie sign-in, `token` for a Bearer (or token cookie) caller.
    struct MeView: Encodable {
        let user: UserView
        let session: SessionView?
        let token: TokenView?
    }

    /// A signed-in caller, by session or by access token.
    enum Caller {
        case session(Account, Session)
        case token(Account, AccessTokenClaims)

        var account: Account {
            switch self {
            case .session(let account, _), .token(let account, _): account
            }
        }

        /// The caller as a known source for the sign-in throttle: a signed-in session, or the
        /// token's refresh family (its session), so re-entering a password is never locked by
        /// failures from elsewhere.
        var device: String {
            switch self {
            case .session(_, let session): "session:" + (session.handle ?? "")
            case .token(_, let claims): "token:" + (claims.sessionID ?? claims.subject)
            }
        }
    }

    struct PasswordChange: Decodable {
        let currentPassword: String
        let newPassword: String
        enum CodingKeys: String, CodingKey {
            case currentPassword = "current_password"
            case newPassword = "new_password"
        }
    }

    func addRoutes(to router: Router<CloakroomRequestContext>) {
        router.get("/healthz", use: health)
        router.get("/metrics", use: metrics)
        let openAPI = ByteBuffer(string: OpenAPIDocument.json + "\n")
        router.get("/openapi.json") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: openAPI)
            )
        }
        var csrfCookies = [services.configuration.cookie.cookieName]
        if let cookies = services.tokenCookies { csrfCookies += [cookies.accessCookieName, cookies.refreshCookieName] }
        // Routes that authenticate by credentials in the body (and the token endpoints, which judge
        // the refresh token themselves) do not look at a Bearer header: a client that sends its
        // expired access token along by default can still refresh, revoke and sign in.
        let credentials = router.group("api").add(middleware: APICSRFMiddleware(cookieNames: csrfCookies))
        // The token endpoints: only the token cookies (cookie transport) authenticate there, so
        // only they call for the CSRF check; a session cookie sent along changes nothing.
        let tokenEndpoints = router.group("api")
            .add(middleware: OAuthErrorMiddleware())
            .add(middleware: APICSRFMiddleware(cookieNames: csrfCookies.filter { $0 != services.configuration.cookie.cookieName }))
        let api = router.group("api")
            .add(middleware: APICSRFMiddleware(cookieNames: csrfCookies))
            .add(middleware: BearerTokenMiddleware(service: services.tokens, cookies: services.tokenCookies))
        TokenRoutes(services: services).addRoutes(to: router, api: tokenEndpoints)
        credentials.post("register", use: register)
        credentials.post("login", use: login)
        api.post("logout", use: logout)
        api.get("me", use: me)
        api.get("sessions", use: listSessions)
        api.delete("sessions", use: revokeOthers)
        api.delete("sessions/:id", use: revokeOne)
        api.post("password", use: changePassword)
        SessionDataRoutes(services: services).addRoutes(to: api)
    }

    // MARK: - Handlers

    /// The Prometheus text exposition of this node's figures, to the clients `--metrics-from` allows
    /// (loopback by default; behind a trusted proxy, the forwarded client counts, not the proxy).
    @Sendable func metrics(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        guard let client = context.clientAddress, services.configuration.metricsFrom.contains(where: { $0.contains(client) }) else {
            throw APIError.forbidden(code: "metrics_forbidden", "metrics are served only to the clients --metrics-from allows (loopback by default)")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: services.metrics.render()))
        )
    }

    @Sendable func health(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        struct Health: Encodable {
            let status: String
            let store: String
            let accounts: String
            let error: String?
        }
        // Both stores a sign-in needs: a node whose account store is down cannot sign anyone in,
        // so a load balancer should stop sending it traffic.
        async let sessionsUp: Bool = {
            do {
                try await services.backends.pingSessions()
                return true
            } catch { return false }
        }()
        async let accountsUp: Bool = {
            do {
                _ = try await services.backends.accounts.account(id: "healthz-probe")
                return true
            } catch { return false }
        }()
        let (store, accounts) = await (sessionsUp, accountsUp)
        if services.drain.isDraining {
            let health = Health(status: "draining", store: store ? "up" : "down", accounts: accounts ? "up" : "down", error: "draining")
            return try json(health, status: .serviceUnavailable)
        }
        let health = Health(
            status: store && accounts ? "ok" : "unavailable",
            store: store ? "up" : "down",
            accounts: accounts ? "up" : "down",
            error: !store ? "session_store_unavailable" : !accounts ? "store_unavailable" : nil
        )
        return try json(health, status: store && accounts ? .ok : .serviceUnavailable)
    }

    @Sendable func register(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        guard services.configuration.registrationOpen else {
            throw APIError(.forbidden, code: "registration_closed", message: "registration is closed on this server")
        }
        let credentials = try await Bodies.json(Credentials.self, from: request)
        let account = try await services.register(username: credentials.username, password: credentials.password, address: context.clientAddress)
        let session = try context.requireSession()
        try await services.sessions.signIn(session, userID: account.id)
        var response = try json(meView(account, session), status: .created)
        let now = services.clock.now()
        let device = services.knownDevices.device(in: request, username: account.username, now: now)
        try services.knownDevices.remember(account.username, device: device, in: &response, now: now)
        if credentials.remember == true {
            response.headers.append(
                try services.rememberCookie(try await services.remember.issue(userID: account.id, device: request.headers[.userAgent]))
            )
        }
        return response
    }

    @Sendable func login(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let credentials = try await Bodies.json(Credentials.self, from: request)
        let now = services.clock.now()
        let device = services.knownDevices.device(in: request, username: credentials.username, now: now)
        let account = try await services.signIn.authenticate(
            username: credentials.username,
            password: credentials.password,
            address: context.clientAddress,
            device: device
        )
        let session = try context.requireSession()
        try await services.sessions.signIn(session, userID: account.id)
        var response = try json(meView(account, session))
        try services.knownDevices.remember(account.username, device: device, in: &response, now: now)
        if credentials.remember == true {
            response.headers.append(
                try services.rememberCookie(try await services.remember.issue(userID: account.id, device: request.headers[.userAgent]))
            )
        }
        return response
    }

    @Sendable func logout(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        if let claims = context.accessToken {
            try await services.tokens.signOut(claims)
            var headers: HTTPFields = [HTTPField.Name("Clear-Site-Data")!: "\"cache\""]
            for cookie in services.tokenCookies?.expiredCookies() ?? [] {
                headers.append(HTTPField(name: .setCookie, value: try cookie.setCookieHeaderValue()))
            }
            return Response(status: .noContent, headers: headers)
        }
        let session = try context.requireSession()
        try await services.endSession(session)
        var response = Response(status: .noContent, headers: [HTTPField.Name("Clear-Site-Data")!: "\"cache\""])
        try await services.forgetDevice(request, in: &response)
        return response
    }

    @Sendable func me(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        switch try await requireCaller(context) {
        case .session(let account, let session):
            return try json(meView(account, session))
        case .token(let account, let claims):
            return try json(
                MeView(
                    user: UserView(id: account.id, username: account.username),
                    session: nil,
                    token: TokenView(
                        clientID: claims.clientID,
                        scope: claims.scope,
                        issuedAt: claims.issuedAt,
                        expiresAt: claims.expiresAt,
                        sessionID: claims.sessionID
                    )
                )
            )
        }
    }

    @Sendable func listSessions(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        struct List: Encodable, JSONWritable {
            let sessions: [SessionView]
            func write(to writer: inout JSONWriter) {
                writer.beginObject()
                writer.key("sessions")
                writer.beginArray()
                for session in sessions { session.write(to: &writer) }
                writer.endArray()
                writer.endObject()
            }
        }
        let caller = try await requireCaller(context)
        let currentSession: Session? = if case .session(_, let session) = caller { session } else { nil }
        let current = currentSession?.handle
        let records = try await services.listedSessions(ofUser: caller.account.id, current: currentSession)
        return try json(List(sessions: records.map { view($0, current: $0.handle == current) }))
    }

    @Sendable func revokeOne(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let caller = try await requireCaller(context)
        let handle = try context.parameters.require("id")
        // The body is read (and a malformed one refused) whichever session is named.
        let password = try await Bodies.optionalPassword(from: request)
        if case .session(_, let session) = caller, handle == session.handle {
            try await services.endSession(session)
        } else {
            try await services.requireRecentAuthentication(caller, password: password, address: context.clientAddress)
            try await services.endSession(handle: handle, ofUser: caller.account.id)
        }
        return Response(status: .noContent)
    }

    /// "Sign out everywhere else": every other session, and every token of the account (a token
    /// caller's own access token included).
    @Sendable func revokeOthers(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        struct Revoked: Encodable {
            let revoked: Int
            let refreshTokensRevoked: Int
        }
        let caller = try await requireCaller(context)
        let password = try await Bodies.optionalPassword(from: request)
        try await services.requireRecentAuthentication(caller, password: password, address: context.clientAddress)
        let keeping: Session? = if case .session(_, let session) = caller { session } else { nil }
        let count = try await services.endSessions(ofUser: caller.account.id, keeping: keeping)
        let tokens = try await services.tokens.revokeEverything(forUser: caller.account.id)
        return try json(Revoked(revoked: count, refreshTokensRevoked: tokens))
    }

    /// Changes the password; every other session and every token of the account end. A session
    /// caller stays signed in under a new session ID; a token caller signs in again.
    @Sendable func changePassword(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let change = try await Bodies.json(PasswordChange.self, from: request)
        let caller = try await requireCaller(context)
        try await services.changePassword(caller, current: change.currentPassword, new: change.newPassword, address: context.clientAddress)
        return Response(status: .noContent)
    }

    // MARK: - Helpers

    /// The signed-in caller: the access token when one was presented, else the session.
    func requireCaller(_ context: CloakroomRequestContext) async throws -> Caller {
        if let claims = context.accessToken {
            // The account API is Cloakroom's own: a token a registered OAuth client obtained for
            // the user (through /authorize) is for /userinfo and resource servers, and never lets
            // that client change the account. (Tokens of Cloakroom's own client, or minted by a
            // signer the operator put in the key ring, pass.)
            if claims.clientID != services.tokens.configuration.clientID, try await services.backends.clients.client(id: claims.clientID) != nil {
                throw APIError(
                    .forbidden,
                    code: "insufficient_scope",
                    message: "this token was issued to the OAuth client \(claims.clientID.prefix(64)); the account API takes Cloakroom's own tokens",
                    headers: [
                        .wwwAuthenticate: "Bearer error=\"insufficient_scope\", error_description=\"the account API takes Cloakroom's own tokens\""
                    ]
                )
            }
            guard let account = try await services.account(for: claims) else {
                throw APIError(
                    .unauthorized,
                    code: "invalid_token",
                    message: "the account of this token no longer exists or is disabled",
                    headers: [.wwwAuthenticate: "Bearer error=\"invalid_token\""],
                    reason: "account_unavailable"
                )
            }
            return .token(account, claims)
        }
        let (account, session) = try await requireUser(context)
        return .session(account, session)
    }

    func requireUser(_ context: CloakroomRequestContext) async throws -> (Account, Session) {
        let session = try context.requireSession()
        guard let account = try await services.currentAccount(session) else {
            // RFC 6750 section 3: a protected resource asked for without credentials names its scheme.
            throw APIError(
                .unauthorized,
                code: "unauthenticated",
                message: "sign in first",
                headers: [.wwwAuthenticate: "Bearer realm=\"cloakroom\""]
            )
        }
        return (account, session)
    }

    func meView(_ account: Account, _ session: Session) -> MeView {
        let record = session.record
        return MeView(
            user: UserView(id: account.id, username: account.username),
            session: record.map { view($0, current: true) } ?? view(placeholder: account),
            token: nil
        )
    }

    func view(_ record: SessionRecord, current: Bool) -> SessionView {
        SessionView(
            id: record.handle,
            current: current,
            createdAt: record.createdAt,
            lastSeenAt: record.lastSeen,
            authenticatedAt: record.authenticatedAt,
            expiresAt: services.sessions.expiry(of: record),
            idleExpiresAt: min(record.idleExpiresAt, record.lastSeen.addingTimeInterval(services.configuration.sessions.idleTimeout)),
            absoluteExpiresAt: min(record.absoluteExpiresAt, record.createdAt.addingTimeInterval(services.configuration.sessions.absoluteLifetime)),
            userAgent: record.userAgent,
            ipAddress: record.ipAddress
        )
    }

    func view(placeholder account: Account) -> SessionView {
        let now = services.clock.now()
        return SessionView(
            id: "",
            current: true,
            createdAt: now,
            lastSeenAt: now,
            authenticatedAt: now,
            expiresAt: now,
            idleExpiresAt: now,
            absoluteExpiresAt: now,
            userAgent: nil,
            ipAddress: nil
        )
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        // The signed-in views write themselves: the same bytes, a fraction of the work.
        if let writable = value as? any JSONWritable {
            var writer = JSONWriter()
            writable.write(to: &writer)
            return Response(
                status: status,
                headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: writer.bytes))
            )
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// CSRF defence for the JSON API (OWASP: custom request headers). A state-changing API request
/// that carries the session cookie must also carry `Content-Type: application/json`, or an
/// `X-CSRF-Token` / `X-Requested-With` header: none of these can be sent cross-origin without a
/// CORS preflight, which this server never grants.
struct APICSRFMiddleware<Context: SessionRequestContext>: RouterMiddleware {
    /// The cookies that authenticate: the session cookie, and the token cookies with cookie transport.
    let cookieNames: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch request.method {
        case .get, .head, .options:
            return try await next(request, context)
        default:
            break
        }
        let hasCookie = request.headers[values: .cookie].contains { header in
            cookieNames.contains { CookieHeader.first(named: $0, in: header) != nil }
        }
        if hasCookie {
            let json = Bodies.mediaType(request) == "application/json"
            let custom =
                request.headers[HTTPField.Name("X-Requested-With")!] != nil
                || request.headers[HTTPField.Name("X-CSRF-Token")!] != nil
            guard json || custom else {
                throw APIError.forbidden(
                    code: "csrf_header_missing",
                    "a cookie-authenticated API request that changes state needs Content-Type: application/json or an X-CSRF-Token header"
                )
            }
            if let token = request.headers[HTTPField.Name("X-CSRF-Token")!], let session = context.session, session.exists {
                guard session.verifyCSRF(token) else {
                    throw APIError.forbidden(code: "csrf_token_invalid", "the X-CSRF-Token header does not match this session")
                }
            }
        }
        return try await next(request, context)
    }
}

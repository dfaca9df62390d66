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

/// The server-rendered pages: home, register, sign in, account (sessions), sign out.
///
/// Every form carries the session's CSRF token (synchronizer token pattern). A form whose token
/// does not match never acts; what the person sees depends on why (as Django and Rails do):
/// - their session has ended (revoked elsewhere, idle timeout, account disabled): signing out just
///   completes, and the other forms send them to /login with "Your session has ended";
/// - the sign-in and registration forms come back with a fresh token and "The form expired";
/// - a signed-in browser whose form is stale goes back to /account with that message;
/// - a client that does not ask for HTML gets 403 `csrf_token_invalid` as JSON.
///
/// The token is replaced at sign-in and at a password change (as Django rotates it at login).
/// A refusal after a POST is redirected (the account page shows it once, from the session), so a
/// reload never re-sends the form.
struct PageRoutes {
    let services: AppServices
    let library: MustacheLibrary

    /// Session key of a one-time message for the next account page (hidden from the session data API).
    static let flashKey = "_flash"
    /// Longest User-Agent shown in the sessions table (the stored one is capped at 512 bytes).
    static let shownUserAgentLength = 160

    func addRoutes(to router: Router<CloakroomRequestContext>) {
        router.get("/", use: home)
        router.get("/assets/cloakroom.js") { _, _ in
            Self.asset(Templates.script, type: "text/javascript; charset=utf-8")
        }
        router.get("/assets/cloakroom.css") { _, _ in
            Self.asset(Templates.stylesheet, type: "text/css; charset=utf-8")
        }
        router.get("/login", use: loginForm)
        router.post("/login", use: login)
        router.get("/register", use: registerForm)
        router.post("/register", use: register)
        router.get("/account", use: account)
        router.post("/account/sessions/revoke", use: revoke)
        router.post("/account/sessions/revoke-others", use: revokeOthers)
        router.post("/account/password", use: changePassword)
        router.post("/account/applications/revoke", use: revokeApplication)
        router.post("/account/preferences", use: savePreferences)
        router.post("/account/devices/forget", use: forgetDevice)
        router.post("/logout", use: logout)
    }

    // MARK: - Handlers

    @Sendable func home(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let account = try await services.currentAccount(session)
        let home = HomePage(
            idleText: Self.spoken(services.configuration.sessions.idleTimeout),
            absoluteText: Self.spoken(services.configuration.sessions.absoluteLifetime)
        )
        return page("home", view(title: "Home", account: account, session: session, home))
    }

    @Sendable func loginForm(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let signingInFor = try await oauthClientName(session)
        // A signed-in visitor sees the form only when an application asked for a fresh sign-in.
        if signingInFor == nil, try await services.currentAccount(session) != nil { return redirect("/account") }
        var form = FormPage()
        form.application = signingInFor
        form.providers = services.configuration.providers.map { ProviderRow(name: $0.name) }
        form.hasProviders = !form.providers.isEmpty
        // The same words whether the session was revoked, evicted, expired or its account disabled,
        // and whether or not the account still exists.
        if request.uri.queryParameters["notice"] == "ended" || sessionEnded(request, session) {
            form.notice = "Your session has ended. Please sign in again."
        }
        // The form's redirects may end at the application's redirect URI: the policy allows it.
        return try await withOAuthPolicy(page("login", view(title: "Sign in", account: nil, session: session, forms: true, form)), session: session)
    }

    @Sendable func login(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        let username = form["username"] ?? ""
        guard session.verifyCSRF(form["csrf_token"]) else {
            if try await services.currentAccount(session) != nil { return redirect("/account") }
            return try await withOAuthPolicy(
                refilled("login", title: "Sign in", session: session, username: username, message: Self.expired, status: .forbidden),
                session: session
            )
        }
        do {
            let now = services.clock.now()
            let device = services.knownDevices.device(in: request, username: username, now: now)
            let account = try await services.signIn.authenticate(
                username: username,
                password: form["password"] ?? "",
                address: context.clientAddress,
                device: device
            )
            try await signIn(session, account: account)
            var response = redirect(OAuthRoutes.pending(in: session) != nil ? "/authorize/resume" : "/account")
            try services.knownDevices.remember(account.username, device: device, in: &response, now: now)
            if form["remember"] == "on" {
                response.headers.append(
                    try services.rememberCookie(try await services.remember.issue(userID: account.id, device: request.headers[.userAgent]))
                )
            }
            return response
        } catch let error as IdentityError {
            return try await withOAuthPolicy(
                refused("login", title: "Sign in", session: session, username: username, error: error, message: error.message),
                session: session
            )
        } catch let error as SessionError where error.isTooManySessions {
            return try await withOAuthPolicy(
                refused("login", title: "Sign in", session: session, username: username, error: error, message: error.message),
                session: session
            )
        }
    }

    @Sendable func registerForm(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        if try await services.currentAccount(session) != nil { return redirect("/account") }
        return page("register", registerView(session: session))
    }

    @Sendable func register(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        guard services.configuration.registrationOpen else {
            return page("register", registerView(session: session), status: .forbidden)
        }
        let username = form["username"] ?? ""
        guard session.verifyCSRF(form["csrf_token"]) else {
            if try await services.currentAccount(session) != nil { return redirect("/account") }
            return refilled("register", title: "Register", session: session, username: username, message: Self.expired, status: .forbidden)
        }
        do {
            let account = try await services.register(username: username, password: form["password"] ?? "", address: context.clientAddress)
            try await signIn(session, account: account)
            var response = redirect(OAuthRoutes.pending(in: session) != nil ? "/authorize/resume" : "/account")
            let now = services.clock.now()
            let device = services.knownDevices.device(in: request, username: account.username, now: now)
            try services.knownDevices.remember(account.username, device: device, in: &response, now: now)
            return response
        } catch let error as IdentityError {
            return refused("register", title: "Register", session: session, username: username, error: error, message: error.message)
        }
    }

    @Sendable func account(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        guard let account = try await services.currentAccount(session) else {
            return redirect(sessionEnded(request, session) ? "/login?notice=ended" : "/login")
        }
        let notice: String? =
            switch request.uri.queryParameters["notice"] {
            case "revoked": "That session has been signed out."
            case "others": "All your other sessions and tokens have been signed out."
            case "password": "Your password has been changed. Your other sessions and tokens have been signed out."
            case "application": "That application's access has been removed."
            case "linked": "Your account is linked: you can sign in with that provider."
            case "unlinked": "The link to that provider has been removed."
            case "preferences": "Your preferences are saved on this device."
            case "device": "That device is forgotten: it will ask for your password next time."
            default: nil
            }
        // A refusal the previous POST left for this page, shown once.
        var error: String?
        var passwordError: String?
        if let flash = session.value(forKey: Self.flashKey) {
            session.removeValue(forKey: Self.flashKey)
            if flash.hasPrefix("password:") { passwordError = String(flash.dropFirst("password:".count)) } else { error = flash }
        }
        let theme = services.preferences.read(request.cookie(named: services.preferences.name), now: services.clock.now())["theme"] ?? "system"
        return try await accountPage(
            account: account,
            session: session,
            notice: notice,
            error: error,
            passwordError: passwordError,
            theme: theme,
            request: request
        )
    }

    /// The account page, with a notice or a refusal.
    func accountPage(
        account: Account,
        session: Session,
        notice: String?,
        error: String?,
        passwordError: String?,
        theme: String = "system",
        request: Request
    )
        async throws -> Response
    {
        // This device first, then the others, most recently used first.
        let records = try await services.listedSessions(ofUser: account.id, current: session)
            .sorted { ($0.handle == session.handle ? 1 : 0, $0.lastSeen) > ($1.handle == session.handle ? 1 : 0, $1.lastSeen) }
        let rows = records.map { record in
            let agent = record.userAgent.flatMap { $0.isEmpty ? nil : $0 } ?? "unknown device"
            return AccountPage.SessionRow(
                handle: record.handle,
                current: record.handle == session.handle,
                // The current session's own value: this request may have set it (not stored yet).
                remembered: (record.handle == session.handle
                    ? session.value(forKey: AppServices.rememberedKey) : record.data[AppServices.rememberedKey])
                    != nil,
                userAgent: Self.shortened(agent, to: Self.shownUserAgentLength),
                userAgentFull: agent,
                device: Self.shortened(agent, to: 60),
                ipAddress: record.ipAddress ?? "unknown",
                created: format(record.authenticatedAt ?? record.createdAt),
                lastSeen: format(record.lastSeen),
                expires: format(services.sessions.expiry(of: record))
            )
        }
        var applications: [AccountPage.ApplicationRow] = []
        for consent in try await services.backends.consents.consents(ofUser: account.id) {
            let client = try await services.backends.clients.client(id: consent.clientID)
            applications.append(
                AccountPage.ApplicationRow(
                    clientID: consent.clientID,
                    name: client?.name ?? consent.clientID,
                    scopes: consent.scope.isEmpty ? "no scopes" : consent.scope.description,
                    granted: format(consent.grantedAt)
                )
            )
        }
        var model = AccountPage(
            username: account.username,
            idleText: Self.spoken(services.configuration.sessions.idleTimeout),
            absoluteText: Self.spoken(services.configuration.sessions.absoluteLifetime),
            currentExpiry: session.record.map { format(services.sessions.expiry(of: $0)) },
            sessionCount: records.count,
            sessions: rows,
            notice: notice,
            error: error,
            passwordError: passwordError,
            minPassword: services.signIn.policy.minPasswordLength,
            needsPassword: needsPassword(session)
        )
        model.sessionsInCookies = services.sessions.keepsSessionsInCookies
        let thisDevice = try await services.rememberedDeviceID(of: request)
        model.rememberedDevices = try await services.remember.devices(ofUser: account.id).map { device in
            let label = device.label ?? "a browser"
            return AccountPage.DeviceRow(
                id: device.id,
                current: device.id == thisDevice,
                label: Self.shortened(label, to: Self.shownUserAgentLength),
                labelFull: label,
                lastUsed: format(device.lastUsed),
                expires: format(device.expires)
            )
        }
        model.hasRememberedDevices = !model.rememberedDevices.isEmpty
        model.applications = applications
        model.hasApplications = !applications.isEmpty
        let links = try await services.backends.federated.identities(ofUser: account.id)
        model.providers = services.configuration.providers.map { provider in
            ProviderRow(name: provider.name, linked: links.first { $0.provider == provider.name }.map { format($0.linkedAt) })
        }
        model.hasProviders = !model.providers.isEmpty
        model.themes = Self.themes.map { AccountPage.ThemeChoice(value: $0.0, label: $0.1, selected: $0.0 == theme) }
        return page("account", view(title: "Account", account: account, session: session, forms: true, model))
    }

    @Sendable func changePassword(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        guard let account = try await services.currentAccount(session) else { return redirect("/login?notice=ended") }
        guard session.verifyCSRF(form["csrf_token"]) else { return try formExpired(request, session) }
        let current = form["current_password"] ?? ""
        let new = form["new_password"] ?? ""
        func refuse(_ message: String) -> Response {
            session.setValue("password:" + message, forKey: Self.flashKey)
            return redirect("/account#change-password")
        }
        guard !current.isEmpty else { return refuse("Enter your current password.") }
        guard !new.isEmpty else { return refuse("Enter a new password.") }
        // Refused before the current password is checked: the answer is the same either way.
        guard new != current else { return refuse("The new password is the same as your current one; choose a different one.") }
        do {
            try await services.changePassword(.session(account, session), current: current, new: new, address: context.clientAddress)
        } catch let error as IdentityError {
            switch error.code {
            case .invalidCredentials: return refuse("Your current password is incorrect.")
            default: return refuse(Self.sentence(error.message))
            }
        }
        // The session has a new ID; its CSRF token is replaced too (the next page makes one).
        session.removeValue(forKey: Session.csrfKey)
        return redirect("/account?notice=password")
    }

    @Sendable func revoke(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        guard let account = try await services.currentAccount(session) else { return redirect("/login?notice=ended") }
        guard session.verifyCSRF(form["csrf_token"]) else { return try formExpired(request, session) }
        guard let handle = form["handle"], !handle.isEmpty else {
            return errorPage(status: .badRequest, heading: "Nothing to revoke", message: "No session was named.", session: session, account: account)
        }
        if let refused = try await reauthenticate(session, account: account, password: form["password"], context: context) { return refused }
        do {
            try await services.endSession(handle: handle, ofUser: account.id)
        } catch let error as SessionError where error.isNotFound {
            return errorPage(
                status: .notFound,
                heading: "No such session",
                message: "That session does not exist or has already ended.",
                session: session,
                account: account
            )
        }
        return redirect("/account?notice=revoked")
    }

    @Sendable func revokeOthers(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        guard let account = try await services.currentAccount(session) else { return redirect("/login?notice=ended") }
        guard session.verifyCSRF(form["csrf_token"]) else { return try formExpired(request, session) }
        if let refused = try await reauthenticate(session, account: account, password: form["password"], context: context) { return refused }
        try await services.endSessions(ofUser: account.id, keeping: session)
        try await services.tokens.revokeEverything(forUser: account.id)
        return redirect("/account?notice=others")
    }

    /// "Remove access" of an application: the consent is withdrawn, so the client's refresh tokens,
    /// codes and `/userinfo` stop working for this user at once (its access tokens run out within
    /// their lifetime), and its next request shows the consent page again.
    @Sendable func revokeApplication(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        guard let account = try await services.currentAccount(session) else { return redirect("/login?notice=ended") }
        guard session.verifyCSRF(form["csrf_token"]) else { return try formExpired(request, session) }
        guard let clientID = form["client_id"], try await services.backends.consents.revoke(userID: account.id, clientID: clientID) else {
            return errorPage(
                status: .notFound,
                heading: "No such application",
                message: "That application has no access to your account.",
                session: session,
                account: account
            )
        }
        services.logger.info("oauth consent withdrawn", metadata: ["user": "\(account.id)", "client": "\(clientID)"])
        return redirect("/account?notice=application")
    }

    /// The themes the preference form offers: value and label.
    static let themes = [("system", "As the device"), ("light", "Light"), ("dark", "Dark")]

    /// The preference form: the theme goes into the signed preference cookie (not the session: it
    /// belongs to the device, and survives signing out).
    @Sendable func savePreferences(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        guard try await services.currentAccount(session) != nil else { return redirect("/login?notice=ended") }
        guard session.verifyCSRF(form["csrf_token"]) else { return try formExpired(request, session) }
        guard let theme = form["theme"], Self.themes.contains(where: { $0.0 == theme }) else {
            throw APIError.invalidField("theme", "must be system, light or dark")
        }
        let cookie = try services.preferences.cookie(["theme": theme], now: services.clock.now())
        var response = redirect("/account?notice=preferences")
        response.headers.append(HTTPField(name: .setCookie, value: try cookie.setCookieHeaderValue()))
        return response
    }

    /// "Forget" on a remembered device: its remember family ends, so its cookie signs nobody in
    /// again (the device asks for the password next time). Forgetting this device also expires its
    /// cookie. No password is asked: forgetting only takes access away.
    @Sendable func forgetDevice(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        guard let account = try await services.currentAccount(session) else { return redirect("/login?notice=ended") }
        guard session.verifyCSRF(form["csrf_token"]) else { return try formExpired(request, session) }
        guard let device = form["device"], !device.isEmpty else { throw APIError.invalidField("device", "is required") }
        let thisDevice = try await services.rememberedDeviceID(of: request)
        guard try await services.remember.forget(device: device, ofUser: account.id) else {
            session.setValue("That device is no longer remembered.", forKey: Self.flashKey)
            return redirect("/account")
        }
        services.logger.info("remembered device forgotten", metadata: ["user": "\(account.id)", "device": "\(device)"])
        var response = redirect("/account?notice=device")
        if device == thisDevice { response.headers.append(try services.rememberCookie(nil)) }
        return response
    }

    /// Whether ending other sessions would ask for the password now.
    func needsPassword(_ session: Session) -> Bool {
        let latest = AppServices.lastPasswordEntry(session) ?? .distantPast
        return services.clock.now().timeIntervalSince(latest) >= AppServices.reauthenticationGrace
    }

    /// nil when the visitor may end other sessions now (signed in within 5 minutes, or the
    /// password entered is right); else the account page again with the reason.
    func reauthenticate(_ session: Session, account: Account, password: String?, context: CloakroomRequestContext) async throws -> Response? {
        do {
            try await services.requireRecentAuthentication(.session(account, session), password: password, address: context.clientAddress)
            return nil
        } catch let error as APIError where error.code == "reauthentication_required" {
            session.setValue("Enter your password to end other sessions.", forKey: Self.flashKey)
        } catch let error as IdentityError {
            session.setValue(
                error.code == .invalidCredentials ? "Your password is incorrect; no session was ended." : Self.sentence(error.message),
                forKey: Self.flashKey
            )
        }
        return redirect("/account")
    }

    @Sendable func logout(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        // Signing out of a session that has already ended (revoked elsewhere, timed out) just
        // completes; a live signed-in session needs the form's token.
        if session.userID != nil, !session.verifyCSRF(form["csrf_token"]) { return try formExpired(request, session) }
        try await services.endSession(session)
        var response = redirect("/")
        try await services.forgetDevice(request, in: &response)
        // Evicts this origin's cached pages (including the back-forward cache) in secure contexts.
        response.headers[HTTPField.Name("Clear-Site-Data")!] = "\"cache\""
        return response
    }

    // MARK: - Helpers

    /// The sign-in page again, with the policy that lets its form end at a waiting application.
    func withOAuthPolicy(_ response: Response, session: Session) async throws -> Response {
        guard let redirectURI = try await OAuthRoutes(services: services, library: library).pendingRedirectURI(session) else { return response }
        var response = response
        response.headers.append(contentsOf: OAuthRoutes.formPolicy(sendingTo: redirectURI))
        return response
    }

    /// The name of the application whose authorization request is waiting for this sign-in, if any.
    func oauthClientName(_ session: Session) async throws -> String? {
        guard let pending = OAuthRoutes.pending(in: session) else { return nil }
        let clientID = FormURLEncoded.pairs(pending.query)?.first { $0.name == "client_id" }?.value
        guard let clientID, let client = try await services.backends.clients.client(id: clientID) else { return nil }
        return client.name
    }

    static let expired = "The form expired; please try again."

    /// Signs `account` in on `session`: a new session ID and a new CSRF token.
    func signIn(_ session: Session, account: Account) async throws {
        // Dropped before the rotation, so the new record never holds the pre-sign-in token.
        session.removeValue(forKey: Session.csrfKey)
        try await services.sessions.signIn(session, userID: account.id)
    }

    /// A signed-in visitor's form whose CSRF token does not match: nothing happens. A browser goes
    /// back to the account page with a fresh token and a message; other clients get 403 JSON.
    func formExpired(_ request: Request, _ session: Session) throws -> Response {
        guard ErrorMiddleware<CloakroomRequestContext>.wantsHTML(request) else { throw Self.csrfRefusal }
        session.setValue(Self.expired, forKey: Self.flashKey)
        return redirect("/account")
    }

    static let csrfRefusal = APIError.forbidden(
        code: "csrf_token_invalid",
        "the form's CSRF token is missing or does not match your session; reload the page and try again"
    )

    /// True when the request presented a session cookie that names no live session (any more).
    func sessionEnded(_ request: Request, _ session: Session) -> Bool {
        session.record == nil && request.cookie(named: services.configuration.cookie.cookieName) != nil
    }

    /// The form again after a library refusal (`IdentityError`, `SessionError`): its message as a
    /// sentence, under the status and headers the API would answer it with.
    func refused(_ template: String, title: String, session: Session, username: String, error: any Error, message: String) -> Response {
        let mapped = APIError(mapping: error)
        return refilled(
            template,
            title: title,
            session: session,
            username: username,
            message: Self.sentence(message),
            status: mapped?.status,
            headers: mapped?.headers
        )
    }

    /// The form again, with the typed username kept and the refusal shown, under the refusal's status.
    func refilled(
        _ template: String,
        title: String,
        session: Session,
        username: String,
        message: String,
        status: HTTPResponse.Status?,
        headers: HTTPFields? = nil
    ) -> Response {
        var form = FormPage(error: message, username: username, minPassword: services.signIn.policy.minPasswordLength)
        if template == "login" {
            form.providers = services.configuration.providers.map { ProviderRow(name: $0.name) }
            form.hasProviders = !form.providers.isEmpty
        }
        return page(
            template,
            view(title: title, account: nil, session: session, forms: true, form),
            status: status ?? .badRequest,
            headers: headers ?? [:]
        )
    }

    func registerView(session: Session) -> PageView<FormPage> {
        let open = services.configuration.registrationOpen
        return view(
            title: open ? "Register" : "Registration is closed",
            account: nil,
            session: session,
            forms: open,
            FormPage(minPassword: services.signIn.policy.minPasswordLength)
        )
    }

    /// A page's view: the shared header values around `content`.
    func view<Content>(title: String, account: Account?, session: Session, forms: Bool = false, _ content: Content) -> PageView<Content> {
        // Only pages with forms (or a signed-in header with its sign-out form) create a CSRF token,
        // so an anonymous visit to the home page stores nothing.
        PageView(
            title: title,
            registrationOpen: services.configuration.registrationOpen,
            user: account.map { PageUser(username: $0.username) },
            csrf: forms || account != nil ? session.csrfToken() : nil,
            bare: false,
            page: content
        )
    }

    func page<Content>(_ name: String, _ view: PageView<Content>, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        Self.render(library, name, view, status: status, headers: extra)
    }

    static func render<Content>(
        _ library: MustacheLibrary,
        _ name: String,
        _ view: PageView<Content>,
        status: HTTPResponse.Status = .ok,
        headers extra: HTTPFields = [:]
    ) -> Response {
        let html = library.render(view, withTemplate: name) ?? "template \(name) missing"
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func errorPage(status: HTTPResponse.Status, heading: String, message: String, session: Session, account: Account?) -> Response {
        page("error", view(title: heading, account: account, session: session, ErrorPage(heading: heading, message: message)), status: status)
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "public, max-age=3600"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }

    func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    func format(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    /// A duration as a person says it: "45 seconds", "1 minute", "30 minutes", "12 hours",
    /// "1.5 hours", "2 days" (the largest unit that keeps it readable).
    static func spoken(_ seconds: TimeInterval) -> String {
        func count(_ value: Double, _ unit: String) -> String {
            let text = value == value.rounded() ? "\(Int(value))" : String(format: "%.1f", value)
            return text + " " + unit + (text == "1" ? "" : "s")
        }
        switch seconds {
        case ..<60: return count(seconds.rounded(), "second")
        case ..<3600: return count((seconds / 60 * 10).rounded() / 10, "minute")
        case ..<172_800: return count((seconds / 3600 * 10).rounded() / 10, "hour")
        default: return count((seconds / 86_400 * 10).rounded() / 10, "day")
        }
    }

    /// A message of the shared (API) wording as a sentence on a page: capitalised, with a full stop.
    static func sentence(_ message: String) -> String {
        guard let first = message.first else { return message }
        let text = first.uppercased() + message.dropFirst()
        return text.last.map { ".!?".contains($0) } == true ? text : text + "."
    }

    /// `text` cut to at most `limit` characters, with an ellipsis when cut.
    static func shortened(_ text: String, to limit: Int) -> String {
        text.count <= limit ? text : text.prefix(limit - 1) + "…"
    }

    // MARK: - Error pages for ErrorMiddleware

    /// What `ErrorMiddleware` shows a browser for an error outside (or thrown past) the page
    /// handlers: 404, 403, 405, 413, 415, 429, 503 … in the site's style, without knowing who is
    /// signed in (the header shows no account).
    static func errorPageRenderer(services: AppServices) throws -> @Sendable (ErrorMiddleware<CloakroomRequestContext>.Failure) -> String {
        let library = try Templates.library()
        let registrationOpen = services.configuration.registrationOpen
        return { failure in
            let (heading, message, link) = describe(failure)
            let page = ErrorPage(heading: heading, message: message, link: link.map { ErrorPage.Link(href: $0.href, text: $0.text) })
            let view = PageView(title: heading, registrationOpen: registrationOpen, user: nil, csrf: nil, bare: true, page: page)
            return library.render(view, withTemplate: "error") ?? "\(failure.status.code) \(heading)"
        }
    }

    /// Heading, message and link of the error page for `failure`.
    static func describe(_ failure: ErrorMiddleware<CloakroomRequestContext>.Failure) -> (String, String, (href: String, text: String)?) {
        switch (failure.status.code, failure.code) {
        case (_, "csrf_token_invalid"), (_, "csrf_header_missing"):
            return ("This form has expired", "The form expired or did not come from this site. Go back, reload the page and try again.", nil)
        case (_, "cross_origin_request"):
            return ("Request refused", "This form was sent from another site, so it was refused. Open the page on this site and try again.", nil)
        case (401, _):
            return ("Sign in required", "Sign in to see this page.", ("/login", "Sign in"))
        case (403, _):
            return ("Not allowed", sentence(failure.message), nil)
        case (404, _):
            return ("Page not found", "There is no page at this address. The link may be wrong, or the page may have moved.", nil)
        case (405, _):
            return ("Method not allowed", "This address does not accept that kind of request.", nil)
        case (413, _):
            return (
                "Too much data", "The form sent more than this server accepts (\(Bodies.maxBytes / 1024) KiB). Shorten what you typed and try again.",
                nil
            )
        case (415, _):
            return ("Unsupported form", "This address does not accept data of that type.", nil)
        case (429, _):
            return ("Too many requests", sentence(failure.message), nil)
        case (503, _):
            return ("Service unavailable", "The server cannot serve this page right now. Try again in a moment.", nil)
        case (500..., _):
            return ("Something went wrong", "An internal error occurred. Try again later.", nil)
        default:
            return (failure.status.reasonPhrase.isEmpty ? "Request refused" : failure.status.reasonPhrase, sentence(failure.message), nil)
        }
    }
}

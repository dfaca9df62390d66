import CloakroomHummingbird
import CloakroomIdentity
import CloakroomSessions
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The server-rendered pages: home, register, sign in, account (sessions), sign out.
///
/// Every form carries the session's CSRF token (synchronizer token pattern); a POST whose token
/// does not match is refused with 403 and a page saying so.
struct PageRoutes {
    let services: AppServices
    let library: MustacheLibrary

    func addRoutes(to router: Router<CloakroomRequestContext>) {
        router.get("/", use: home)
        router.get("/assets/cloakroom.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "public, max-age=3600"],
                     body: .init(byteBuffer: ByteBuffer(string: Templates.script)))
        }
        router.get("/login", use: loginForm)
        router.post("/login", use: login)
        router.get("/register", use: registerForm)
        router.post("/register", use: register)
        router.get("/account", use: account)
        router.post("/account/sessions/revoke", use: revoke)
        router.post("/account/sessions/revoke-others", use: revokeOthers)
        router.post("/account/password", use: changePassword)
        router.post("/logout", use: logout)
    }

    // MARK: - Handlers

    @Sendable func home(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let account = try await services.currentAccount(session)
        var values = base(title: "Home", account: account, session: session)
        values["idleMinutes"] = Int(services.configuration.sessions.idleTimeout / 60)
        values["absoluteHours"] = formatHours(services.configuration.sessions.absoluteLifetime)
        return page("home", values)
    }

    @Sendable func loginForm(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        if try await services.currentAccount(session) != nil { return redirect("/account") }
        return page("login", base(title: "Sign in", account: nil, session: session, forms: true))
    }

    @Sendable func login(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        try checkCSRF(form, session)
        let username = form["username"] ?? ""
        do {
            let account = try await services.signIn.authenticate(username: username, password: form["password"] ?? "", address: context.clientAddress)
            try await services.sessions.signIn(session, userID: account.id)
            return redirect("/account")
        } catch let error as IdentityError {
            return refilled("login", title: "Sign in", session: session, username: username, message: error.message, mapped: APIError(mapping: error))
        } catch let error as SessionError where error.isTooManySessions {
            return refilled("login", title: "Sign in", session: session, username: username, message: error.message, mapped: APIError(mapping: error))
        }
    }

    @Sendable func registerForm(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        if try await services.currentAccount(session) != nil { return redirect("/account") }
        var values = base(title: "Register", account: nil, session: session, forms: true)
        values["minPassword"] = services.signIn.policy.minPasswordLength
        return page("register", values)
    }

    @Sendable func register(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        try checkCSRF(form, session)
        let username = form["username"] ?? ""
        do {
            guard services.configuration.registrationOpen else {
                throw APIError(.forbidden, code: "registration_closed", message: "registration is closed on this server")
            }
            let account = try await services.signIn.register(username: username, password: form["password"] ?? "")
            try await services.sessions.signIn(session, userID: account.id)
            return redirect("/account")
        } catch let error as IdentityError {
            return refilled("register", title: "Register", session: session, username: username, message: error.message, mapped: APIError(mapping: error))
        }
    }

    @Sendable func account(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        guard let account = try await services.currentAccount(session) else { return redirect("/login") }
        let notice: String? = switch request.uri.queryParameters["notice"] {
        case "revoked": "That session has been signed out."
        case "others": "All your other sessions and tokens have been signed out."
        case "password": "Your password has been changed. Your other sessions and tokens have been signed out."
        default: nil
        }
        return try await accountPage(account: account, session: session, notice: notice)
    }

    /// The account page, with a notice or a refusal of the password form.
    func accountPage(
        account: Account, session: Session, notice: String? = nil, passwordError: String? = nil,
        status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]
    ) async throws -> Response {
        // This device first, then the others, most recently used first.
        let records = try await services.sessions.sessions(ofUser: account.id)
            .sorted { ($0.handle == session.handle ? 1 : 0, $0.lastSeen) > ($1.handle == session.handle ? 1 : 0, $1.lastSeen) }
        var values = base(title: "Account", account: account, session: session, forms: true)
        values["username"] = account.username
        values["idleMinutes"] = Int(services.configuration.sessions.idleTimeout / 60)
        values["absoluteHours"] = formatHours(services.configuration.sessions.absoluteLifetime)
        if let record = session.record { values["currentExpiry"] = format(services.sessions.expiry(of: record)) }
        values["sessionCount"] = records.count
        values["sessions"] = records.map { record -> [String: Any] in
            [
                "handle": record.handle,
                "current": record.handle == session.handle,
                "userAgent": record.userAgent ?? "unknown device",
                "ipAddress": record.ipAddress ?? "unknown",
                "created": format(record.authenticatedAt ?? record.createdAt),
                "lastSeen": format(record.lastSeen),
                "expires": format(services.sessions.expiry(of: record)),
            ]
        }
        values["notice"] = notice
        values["passwordError"] = passwordError
        values["minPassword"] = services.signIn.policy.minPasswordLength
        return page("account", values, status: status, headers: headers)
    }

    @Sendable func changePassword(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        try checkCSRF(form, session)
        guard let account = try await services.currentAccount(session) else { return redirect("/login") }
        do {
            try await services.changePassword(
                .session(account, session), current: form["current_password"] ?? "", new: form["new_password"] ?? "",
                address: context.clientAddress)
        } catch let error as IdentityError {
            let mapped = APIError(mapping: error)
            return try await accountPage(
                account: account, session: session, passwordError: error.message,
                status: mapped?.status ?? .badRequest, headers: mapped?.headers ?? [:])
        }
        return redirect("/account?notice=password")
    }

    @Sendable func revoke(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        try checkCSRF(form, session)
        guard let account = try await services.currentAccount(session) else { return redirect("/login") }
        guard let handle = form["handle"], !handle.isEmpty else {
            return errorPage(status: .badRequest, heading: "Nothing to revoke", message: "No session was named.", session: session, account: account)
        }
        do {
            try await services.sessions.revoke(handle: handle, ofUser: account.id)
        } catch let error as SessionError where error.isNotFound {
            return errorPage(status: .notFound, heading: "No such session", message: "That session does not exist or has already ended.", session: session, account: account)
        }
        return redirect("/account?notice=revoked")
    }

    @Sendable func revokeOthers(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        try checkCSRF(form, session)
        guard let account = try await services.currentAccount(session) else { return redirect("/login") }
        try await services.sessions.revokeAll(ofUser: account.id, keeping: session)
        try await services.tokens.revokeEverything(forUser: account.id)
        return redirect("/account?notice=others")
    }

    @Sendable func logout(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        try checkCSRF(form, session)
        try await services.sessions.destroy(session)
        var response = redirect("/")
        // Evicts this origin's cached pages (including the back-forward cache) in secure contexts.
        response.headers[HTTPField.Name("Clear-Site-Data")!] = "\"cache\""
        return response
    }

    // MARK: - Helpers

    /// The form again, with the typed username kept and the refusal shown, under the refusal's status.
    func refilled(_ template: String, title: String, session: Session, username: String, message: String, mapped: APIError?) -> Response {
        var values = base(title: title, account: nil, session: session, forms: true)
        values["error"] = message
        values["username"] = username
        values["minPassword"] = services.signIn.policy.minPasswordLength
        return page(template, values, status: mapped?.status ?? .badRequest, headers: mapped?.headers ?? [:])
    }

    func checkCSRF(_ form: [String: String], _ session: Session) throws {
        guard session.verifyCSRF(form["csrf_token"]) else {
            throw APIError.forbidden(code: "csrf_token_invalid", "the form's CSRF token is missing or does not match your session; reload the page and try again")
        }
    }

    func base(title: String, account: Account?, session: Session, forms: Bool = false) -> [String: Any] {
        var values: [String: Any] = ["title": title]
        if let account { values["user"] = ["username": account.username] as [String: Any] }
        // Only pages with forms (or a signed-in header with its sign-out form) create a CSRF token,
        // so an anonymous visit to the home page stores nothing.
        if forms || account != nil { values["csrf"] = session.csrfToken() }
        return values
    }

    func page(_ name: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        let html = library.render(values, withTemplate: name) ?? "template \(name) missing"
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func errorPage(status: HTTPResponse.Status, heading: String, message: String, session: Session, account: Account?) -> Response {
        var values = base(title: heading, account: account, session: session)
        values["heading"] = heading
        values["message"] = message
        return page("error", values, status: status)
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

    func formatHours(_ seconds: TimeInterval) -> String {
        let hours = seconds / 3600
        return hours == hours.rounded() ? "\(Int(hours))" : String(format: "%.1f", hours)
    }
}

import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomOAuth
import CloakroomSessions
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache

/// The admin page for OAuth clients (`/admin/clients`): what `cloakroom clients` does, in the
/// browser, for the accounts named by `--admin`. Every form is CSRF-checked; a change needs a
/// sign-in of the last 5 minutes or the password again (as ending other sessions does); a new
/// or rotated secret is shown once, on the page that answers the form, and never again.
struct AdminClientRoutes {
    let services: AppServices
    let library: MustacheLibrary

    func addRoutes(to router: Router<CloakroomRequestContext>) {
        router.get("/admin/clients", use: list)
        router.post("/admin/clients", use: add)
        router.post("/admin/clients/rotate-secret", use: rotate)
        router.post("/admin/clients/remove", use: remove)
    }

    var pages: PageRoutes { PageRoutes(services: services, library: library) }

    /// The signed-in admin, or the response that refuses the visitor.
    func admin(_ session: Session) async throws -> Result<Account, Refusal> {
        guard let account = try await services.currentAccount(session) else { return .failure(Refusal(pages.redirect("/login"))) }
        guard services.configuration.admins.contains(Account.normalize(account.username)) else {
            return .failure(
                Refusal(
                    pages.errorPage(
                        status: .forbidden,
                        heading: "Not allowed",
                        message: "Only administrators manage applications. Ask one to add you with --admin.",
                        session: session,
                        account: account
                    )
                )
            )
        }
        return .success(account)
    }

    @Sendable func list(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        switch try await admin(session) {
        case .failure(let refusal): return refusal.response
        case .success(let account): return try await page(account: account, session: session)
        }
    }

    func page(
        account: Account,
        session: Session,
        notice: String? = nil,
        error: String? = nil,
        secret: AdminClientsPage.Secret? = nil
    ) async throws
        -> Response
    {
        let clients = try await services.backends.clients.all().map { client in
            AdminClientsPage.Row(
                id: client.id,
                name: client.name,
                type: client.isPublic ? "public" : client.secretHash == nil ? "private_key_jwt" : "confidential",
                redirects: client.redirectURIs.joined(separator: " "),
                scopes: client.scopes.description,
                hasSecret: client.secretHash != nil
            )
        }
        let model = AdminClientsPage(
            clients: clients,
            hasClients: !clients.isEmpty,
            notice: notice,
            error: error,
            secret: secret,
            needsPassword: pages.needsPassword(session)
        )
        let view = PageView(
            title: "Applications",
            registrationOpen: services.configuration.registrationOpen,
            user: PageUser(username: account.username),
            csrf: session.csrfToken(),
            bare: false,
            page: model
        )
        return PageRoutes.render(library, "adminClients", view, status: error == nil ? .ok : .badRequest)
    }

    /// Runs `change` for an admin after the CSRF and recent-sign-in checks.
    func changing(
        _ request: Request,
        context: CloakroomRequestContext,
        _ change: (Account, Session, [String: String]) async throws -> Response
    ) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        let account: Account
        switch try await admin(session) {
        case .failure(let refusal): return refusal.response
        case .success(let admin): account = admin
        }
        guard session.verifyCSRF(form["csrf_token"]) else { return try await page(account: account, session: session, error: PageRoutes.expired) }
        do {
            try await services.requireRecentAuthentication(.session(account, session), password: form["password"], address: context.clientAddress)
        } catch let error as APIError where error.code == "reauthentication_required" {
            return try await page(account: account, session: session, error: "Enter your password to change applications.")
        } catch let error as IdentityError {
            return try await page(account: account, session: session, error: PageRoutes.sentence(error.message))
        }
        return try await change(account, session, form)
    }

    @Sendable func add(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        try await changing(request, context: context) { account, session, form in
            let lines = { (text: String?) in (text ?? "").split(whereSeparator: \.isWhitespace).map(String.init) }
            let registered: (client: OAuthClient, secret: String?)
            do {
                let scopes = try Scope(parsing: (form["scope"] ?? "").split(whereSeparator: \.isWhitespace).joined(separator: " "))
                registered = try OAuthClient.register(
                    name: form["name"] ?? "",
                    redirectURIs: lines(form["redirect_uris"]),
                    postLogoutRedirectURIs: lines(form["post_logout_redirect_uris"]),
                    scopes: scopes.isEmpty ? OAuthClient.defaultScopes : scopes,
                    isPublic: form["public"] == "on",
                    backchannelLogoutURI: form["backchannel_logout_uri"].flatMap { $0.isEmpty ? nil : $0 },
                    now: services.clock.now()
                )
            } catch let problem as OAuthClient.RegistrationProblem {
                return try await page(account: account, session: session, error: PageRoutes.sentence(problem.description))
            } catch let problem as Scope.Problem {
                return try await page(account: account, session: session, error: PageRoutes.sentence(problem.description))
            }
            try await services.backends.clients.insert(registered.client)
            services.logger.notice("oauth client registered", metadata: ["admin": "\(account.id)", "client": "\(registered.client.id)"])
            return try await page(
                account: account,
                session: session,
                notice: "Registered \(registered.client.name).",
                secret: registered.secret.map { AdminClientsPage.Secret(clientID: registered.client.id, secret: $0) }
                    ?? AdminClientsPage.Secret(clientID: registered.client.id, secret: nil)
            )
        }
    }

    @Sendable func rotate(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        try await changing(request, context: context) { account, session, form in
            guard var client = try await services.backends.clients.client(id: form["client_id"] ?? ""), client.secretHash != nil else {
                return try await page(account: account, session: session, error: "That application has no secret to replace.")
            }
            let (secret, hash) = OAuthClient.newSecret()
            client.secretHash = hash
            client.secretRotatedAt = services.clock.now()
            _ = try await services.backends.clients.update(client)
            services.logger.notice("oauth client secret rotated", metadata: ["admin": "\(account.id)", "client": "\(client.id)"])
            return try await page(
                account: account,
                session: session,
                notice: "The old secret of \(client.name) no longer works.",
                secret: AdminClientsPage.Secret(clientID: client.id, secret: secret)
            )
        }
    }

    @Sendable func remove(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        try await changing(request, context: context) { account, session, form in
            let id = form["client_id"] ?? ""
            guard try await services.removeClient(id: id) != nil else {
                return try await page(account: account, session: session, error: "No such application.")
            }
            services.logger.notice("oauth client removed", metadata: ["admin": "\(account.id)", "client": "\(id)"])
            return try await page(account: account, session: session, notice: "Removed \(id): it can no longer sign anyone in.")
        }
    }
}

import AsyncHTTPClient
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
import NIOCore
import NIOHTTP1

/// "Sign in with another provider": `GET /login/with/NAME` sends the browser to the provider
/// (state, nonce and the PKCE verifier kept in its session), `GET /login/with/NAME/callback`
/// completes it (`OpenIDRelyingParty` checks everything) and signs in the local account linked to
/// the provider's `sub`: created on first sign-in, or, from the account page (`?link=1`), linked to
/// the account that is signed in. Accounts are never matched by email address.
struct FederatedSignInRoutes {
    let services: AppServices
    let library: MustacheLibrary

    /// The session key of a sign-in waiting for the provider's answer.
    static let pendingKey = "_rp_pending"

    func addRoutes(to router: Router<CloakroomRequestContext>) {
        router.get("/login/with/:provider", use: start)
        router.get("/login/with/:provider/callback", use: callback)
        router.post("/account/providers/unlink", use: unlink)
    }

    var pages: PageRoutes { PageRoutes(services: services, library: library) }

    @Sendable func start(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let name = context.parameters.get("provider") ?? ""
        guard let party = services.relyingParties[name] else {
            return pages.errorPage(
                status: .notFound,
                heading: "Unknown provider",
                message: "This server does not sign in with that provider.",
                session: session,
                account: nil
            )
        }
        let account = try await services.currentAccount(session)
        let linking = request.uri.queryParameters["link"] == "1" && account != nil
        do {
            let (url, pending) = try await party.start(redirectURI: services.configuration.issuer + "/login/with/\(name)/callback", linking: linking)
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .millisecondsSince1970
            session.setValue(String(decoding: try encoder.encode(pending), as: UTF8.self), forKey: Self.pendingKey)
            return redirect(url)
        } catch let failure as OpenIDRelyingParty.Failure {
            services.logger.warning("sign-in with another provider could not start", metadata: ["provider": "\(name)", "reason": "\(failure)"])
            return pages.errorPage(
                status: .badGateway,
                heading: "\(name) cannot be reached",
                message: "Signing in with \(name) is not possible right now. Try again later, or sign in with your password.",
                session: session,
                account: account
            )
        }
    }

    @Sendable func callback(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let name = context.parameters.get("provider") ?? ""
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        guard let party = services.relyingParties[name], let text = session.value(forKey: Self.pendingKey),
            let pending = try? decoder.decode(OpenIDRelyingParty.Pending.self, from: Data(text.utf8)), pending.provider == name
        else {
            return refused(name, "This sign-in was not started in this browser, or it has already been used.", session: session)
        }
        session.removeValue(forKey: Self.pendingKey)
        let signedIn: OpenIDRelyingParty.SignedIn
        do {
            signedIn = try await party.finish(query: FormURLEncoded.parse(request.uri.query ?? "") ?? [:], pending: pending)
        } catch let failure as OpenIDRelyingParty.Failure {
            services.logger.notice("sign-in with another provider refused", metadata: ["provider": "\(name)", "reason": "\(failure)"])
            return refused(name, PageRoutes.sentence(failure.description), session: session)
        }
        let current = try await services.currentAccount(session)
        if let link = try await services.backends.federated.identity(provider: name, subject: signedIn.subject) {
            if pending.linking {
                guard link.userID == current?.id else {
                    return refused(name, "That \(name) account is already linked to another account here.", session: session)
                }
                return redirect("/account?notice=linked")
            }
            guard let account = try await services.backends.accounts.account(id: link.userID), !account.disabled else {
                return refused(name, "The account linked to that \(name) account is disabled.", session: session)
            }
            return try await signIn(session, account: account)
        }
        if pending.linking, current == nil {
            // The link was asked for by an account that has signed out since: nothing is created.
            return refused(name, "Your session ended before the link was made. Sign in and link again.", session: session)
        }
        if pending.linking, let current {
            try await services.backends.federated.link(
                FederatedIdentity(provider: name, subject: signedIn.subject, userID: current.id, linkedAt: services.clock.now())
            )
            services.logger.info("account linked to another provider", metadata: ["user": "\(current.id)", "provider": "\(name)"])
            return redirect("/account?notice=linked")
        }
        guard services.configuration.registrationOpen else {
            return refused(name, "No account here is linked to that \(name) account, and registration is closed.", session: session)
        }
        let account = try await services.signIn.registerFederated(preferred: signedIn.preferredUsername)
        try await services.backends.federated.link(
            FederatedIdentity(provider: name, subject: signedIn.subject, userID: account.id, linkedAt: services.clock.now())
        )
        return try await signIn(session, account: account)
    }

    /// Removes the signed-in account's link to a provider (it keeps its password, if it has one).
    @Sendable func unlink(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let form = try await Bodies.form(from: request)
        guard let account = try await services.currentAccount(session) else { return redirect("/login?notice=ended") }
        guard session.verifyCSRF(form["csrf_token"]) else { return try pages.formExpired(request, session) }
        _ = try await services.backends.federated.unlink(provider: form["provider"] ?? "", userID: account.id)
        return redirect("/account?notice=unlinked")
    }

    func signIn(_ session: Session, account: Account) async throws -> Response {
        try await pages.signIn(session, account: account)
        services.logger.info("signed in with another provider", metadata: ["user": "\(account.id)"])
        return redirect(OAuthRoutes.pending(in: session) != nil ? "/authorize/resume" : "/account")
    }

    func refused(_ provider: String, _ message: String, session: Session) -> Response {
        pages.errorPage(status: .badRequest, heading: "Sign-in with \(provider) failed", message: message, session: session, account: nil)
    }

    func redirect(_ location: String) -> Response { OAuthRoutes.redirect(location) }
}

/// The relying parties' HTTP, through AsyncHTTPClient (10 s per exchange, bodies up to 1 MiB).
enum ProviderHTTP {
    static let fetch: OpenIDRelyingParty.Fetch = { method, url, headers, body in
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Array(bytes.readableBytesView))
    }
}

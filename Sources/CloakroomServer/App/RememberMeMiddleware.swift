import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomSessions
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Signs a browser in again from its remember cookie once its session has ended (after
/// `SessionMiddleware`, before the routes): the token rotates (the response carries the new one),
/// the new session is marked remembered (sensitive actions then ask for the password), and an
/// already-used token, a copied cookie, ends every session and token of its user, logged as
/// theft (unless within the race window of its use: a second tab, which then passes signed out and
/// leaves the cookie alone). Requests with a signed-in session, or without the cookie, pass untouched: one cookie
/// lookup, no store read.
struct RememberMeMiddleware: RouterMiddleware {
    typealias Context = CloakroomRequestContext
    let services: AppServices

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let session = context.session, session.userID == nil, let token = request.cookie(named: services.rememberCookieName) else {
            return try await next(request, context)
        }
        let outcome: RememberTokens.Redemption
        do {
            outcome = try await services.remember.redeem(token)
        } catch {
            // The token store is down: the visitor stays signed out for this request, the cookie stays.
            services.logger.warning("remember-me could not be checked", metadata: ["error": "\(error)"])
            return try await next(request, context)
        }
        var cookie: HTTPField
        switch outcome {
        case .signedIn(let userID, let newToken):
            guard let account = try await services.backends.accounts.account(id: userID), !account.disabled else {
                try await services.remember.forget(newToken)
                cookie = try services.rememberCookie(nil)
                break
            }
            try await services.sessions.signIn(session, userID: account.id)
            session.setValue("1", forKey: AppServices.rememberedKey)
            services.logger.info("signed in by a remember cookie", metadata: ["user": "\(account.id)"])
            cookie = try services.rememberCookie(newToken)
        case .theft(let userID):
            services.logger.warning(
                "remember-me token used twice: the cookie was copied; every session and token of the user ended",
                metadata: ["user": "\(userID)", "address": "\(context.clientAddress ?? "-")"]
            )
            try await services.tokens.revokeEverything(forUser: userID)
            try await services.endSessions(ofUser: userID)
            cookie = try services.rememberCookie(nil)
        case .invalid:
            cookie = try services.rememberCookie(nil)
        case .raced:
            // Another tab of this browser redeemed it a moment ago: its response carries the new
            // cookie, which clearing it here would overwrite.
            return try await next(request, context)
        }
        var response = try await next(request, context)
        response.headers.append(cookie)
        return response
    }
}

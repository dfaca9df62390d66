import CloakroomCore
public import CloakroomSessions
import HTTPTypes
public import Hummingbird
import Logging

/// Loads the request's session from its cookie and writes it back after the handler.
///
/// Adopt it in any Hummingbird 2 app whose context conforms to `SessionRequestContext`:
/// ```swift
/// router.add(middleware: SessionMiddleware(manager: manager))
/// router.get("/count") { _, context in
///     let session = try context.requireSession()
///     let n = Int(session.value(forKey: "n") ?? "0")! + 1
///     session.setValue("\(n)", forKey: "n")
///     return "\(n)"
/// }
/// ```
/// - A cookie that names no live session is ignored (and expired in the browser).
/// - Errors thrown by the handler that are `HTTPResponseError`s become their responses here, so
///   the session is still committed (a rotated ID still reaches the browser).
/// - Responses that set or clear the cookie, and every response to a signed-in user, carry
///   `Cache-Control: no-store` and `Vary: Cookie`, so no shared cache keeps them and the back
///   button after sign-out shows no private page.
/// - A store that cannot be reached yields 503 `session_store_unavailable`.
public struct SessionMiddleware<Context: SessionRequestContext>: RouterMiddleware {
    let manager: SessionManager
    let cookie: SessionCookieSettings

    /// Creates the middleware.
    public init(manager: SessionManager, cookie: SessionCookieSettings = .init()) {
        self.manager = manager
        self.cookie = cookie
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let presented = request.cookie(named: cookie.cookieName)
        let session: Session
        do {
            session = try await manager.load(
                cookieValue: presented,
                userAgent: request.headers[.userAgent],
                ipAddress: context.clientAddress
            )
        } catch {
            context.logger.error("session store unavailable on load", metadata: ["error": "\(error)"])
            throw APIError.storeUnavailable()
        }
        var context = context
        context.session = session

        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch let error where APIError(mapping: error) != nil {
            response = try APIError(mapping: error)!.response(from: request, context: context)
        }

        // A HEAD request runs the GET handler, which may start a session (a form page puts a
        // CSRF token in one); but nobody will see that page, so no session is created for it.
        if request.method == .head, session.record == nil {
            return response
        }
        let action: SessionManager.CookieAction
        do {
            action = try await manager.commit(session)
        } catch let error as SessionError {
            throw APIError(mapping: error) ?? APIError.storeUnavailable()
        } catch {
            context.logger.error("session store unavailable on commit", metadata: ["error": "\(error)"])
            throw APIError.storeUnavailable()
        }
        switch action {
        case .none:
            break
        case .set(let id, let maxAge):
            if let value = try? cookie.cookie(id: id, maxAge: maxAge).setCookieHeaderValue() {
                response.headers.append(HTTPField(name: .setCookie, value: value))
            }
        case .clear:
            if let value = try? cookie.expiredCookie().setCookieHeaderValue() {
                response.headers.append(HTTPField(name: .setCookie, value: value))
            }
        }
        if action != .none || session.userID != nil {
            response.headers[.cacheControl] = "no-store"
            if !response.headers[values: .vary].contains(where: { $0.lowercased().contains("cookie") }) {
                response.headers.append(HTTPField(name: .vary, value: "Cookie"))
            }
        }
        return response
    }
}

import CloakroomCore
import CloakroomIdentity
import CloakroomSessions
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error into a JSON `{"error", "message"}` response with the right status.
///
/// Install it first (outermost). Cloakroom errors map to their statuses (`IdentityError` →
/// 401/409/400/429/403/503, `SessionError` → 413/409/404, `SessionStoreError` → 503);
/// Hummingbird's own errors (404 route, 413 body) keep their status with a JSON body; anything
/// else is a 500 whose detail goes to the log, not the client.
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            if response.status == .notFound && response.headers[.contentType] == nil {
                return APIError.jsonResponse(status: .notFound, code: "not_found", message: "no route for \(request.method) \(request.uri.path.prefix(200))")
            }
            return response
        } catch {
            return Self.response(for: error, request: request, context: context)
        }
    }

    /// The response for `error`.
    public static func response(for error: any Error, request: Request, context: Context) -> Response {
        if let api = error as? APIError {
            return api.jsonResponse()
        }
        if let mapped = APIError(mapping: error) {
            return mapped.jsonResponse()
        }
        if let http = error as? any HTTPResponseError {
            let code: String
            switch http.status {
            case .notFound: code = "not_found"
            case .methodNotAllowed: code = "method_not_allowed"
            case .contentTooLarge: code = "payload_too_large"
            case .badRequest: code = "bad_request"
            case .unsupportedMediaType: code = "unsupported_media_type"
            default: code = http.status.code >= 500 ? "internal_error" : "request_error"
            }
            let message = (http as? HTTPError)?.body ?? http.status.reasonPhrase
            return APIError.jsonResponse(status: http.status, code: code, message: message.isEmpty ? http.status.reasonPhrase : message)
        }
        context.logger.error("unhandled error", metadata: ["error": "\(type(of: error))", "detail": "\(error)"])
        return APIError.jsonResponse(status: .internalServerError, code: "internal_error", message: "an internal error occurred")
    }
}

extension APIError {
    func jsonResponse() -> Response {
        APIError.jsonResponse(status: status, code: code, message: message, headers: headers, reason: reason)
    }

    /// Maps Cloakroom library errors to HTTP; nil for other errors.
    public init?(mapping error: any Error) {
        switch error {
        case let error as IdentityError:
            switch error.code {
            case .invalidCredentials: self.init(.unauthorized, code: error.code.rawValue, message: error.message)
            case .usernameTaken: self.init(.conflict, code: error.code.rawValue, message: error.message)
            case .invalidUsername, .weakPassword: self.init(.badRequest, code: error.code.rawValue, message: error.message)
            case .throttled:
                self.init(.tooManyRequests, code: error.code.rawValue, message: error.message,
                          headers: [.retryAfter: "\(error.retryAfter ?? 1)"])
            case .accountDisabled: self.init(.forbidden, code: error.code.rawValue, message: error.message)
            case .busy: self.init(.serviceUnavailable, code: error.code.rawValue, message: error.message, headers: [.retryAfter: "1"])
            case .malformedHash: self.init(.internalServerError, code: "internal_error", message: "an internal error occurred")
            }
        case let error as SessionError:
            if error.isTooLarge {
                self.init(.contentTooLarge, code: "session_data_too_large", message: error.message)
            } else if error.isTooManySessions {
                self.init(.conflict, code: "too_many_sessions", message: error.message)
            } else if error.isNotFound {
                self.init(.notFound, code: "session_not_found", message: error.message)
            } else {
                self.init(.conflict, code: "session_conflict", message: error.message)
            }
        case is SessionStoreError, is TokenStoreError:
            self = .storeUnavailable()
        case let error as TokenError:
            self.init(.unauthorized, code: "invalid_token", message: error.message,
                      headers: [.wwwAuthenticate: error.wwwAuthenticate], reason: error.code.rawValue)
        case let error as TokenService.RefreshError:
            self.init(.badRequest, code: "invalid_grant", message: error.message, reason: error.reason.rawValue)
        case let error as TokenKeyError:
            self.init(.serviceUnavailable, code: "signing_unavailable", message: "tokens cannot be issued right now (\(error.code.rawValue))",
                      headers: [.retryAfter: "5"])
        case is any BackendUnavailableError:
            self.init(.serviceUnavailable, code: "store_unavailable", message: "the account store is unavailable; try again shortly", headers: [.retryAfter: "2"])
        default:
            return nil
        }
    }
}

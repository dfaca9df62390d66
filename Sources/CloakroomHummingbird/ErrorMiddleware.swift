import CloakroomCore
import CloakroomIdentity
import CloakroomSessions
import CloakroomTokens
import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Turns every error into a JSON `{"error", "message"}` response with the right status, or into an
/// HTML page for a person in a browser.
///
/// Install it first (outermost). Cloakroom errors map to their statuses (`IdentityError` →
/// 401/409/400/429/403/503, `SessionError` → 413/409/404, `StoreError` → 503);
/// Hummingbird's own errors (404 route, 413 body) keep their status with a JSON body; anything
/// else is a 500 whose detail goes to the log, not the client.
///
/// With an `htmlPage` renderer, a page request (`ErrorMiddleware.wantsHTML`: not under `/api/`,
/// `Accept` naming `text/html`) gets that HTML page instead, under the same status and headers
/// (`Allow`, `Retry-After` …): both for errors thrown past inner layers and for JSON error
/// responses inner layers already made (`SessionMiddleware` turns thrown errors into responses so
/// the session is still committed). API routes and non-HTML clients keep the JSON.
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// What an HTML error page shows.
    public struct Failure: Sendable {
        /// The HTTP status.
        public let status: HTTPResponse.Status
        /// The stable error code (`not_found`, `csrf_token_invalid`, `method_not_allowed` …).
        public let code: String
        /// The client-safe message of the JSON form.
        public let message: String
    }

    let htmlPage: (@Sendable (Failure) -> String)?

    /// Creates the middleware; `htmlPage` renders the page a browser gets for an error (nil: JSON for everyone).
    public init(htmlPage: (@Sendable (Failure) -> String)? = nil) {
        self.htmlPage = htmlPage
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let json = Self.response(for: error, request: request, context: context)
            return await html(replacing: json, request: request)
        }
        if response.status == .notFound && response.headers[.contentType] == nil {
            let json = APIError.jsonResponse(
                status: .notFound,
                code: "not_found",
                message: "no route for \(request.method) \(request.uri.path.prefix(200))"
            )
            return await html(replacing: json, request: request)
        }
        return await html(replacing: response, request: request)
    }

    /// True for a request a person's browser made for a page: not under `/api/` (nor `/.well-known/`,
    /// `/healthz`), and `Accept` lists `text/html` or `application/xhtml+xml` (browsers send it for
    /// navigations and form posts; `curl` and API clients do not).
    public static func wantsHTML(_ request: Request) -> Bool {
        let path = request.uri.path
        if path.hasPrefix("/api/") || path == "/api" || path.hasPrefix("/.well-known/") || path == "/healthz" { return false }
        for field in request.headers[values: .accept] {
            for item in field.split(separator: ",") {
                let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                guard let type = parts.first, type == "text/html" || type == "application/xhtml+xml" else { continue }
                let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
                if quality > 0 { return true }
            }
        }
        return false
    }

    /// `response` itself, or (for a page request) the HTML page for the JSON error it carries.
    func html(replacing response: Response, request: Request) async -> Response {
        guard let htmlPage, response.status.code >= 400, request.method != .head, Self.wantsHTML(request) else { return response }
        let type = response.headers[.contentType]?.lowercased()
        guard type == nil || type?.hasPrefix("application/json") == true else { return response }
        var code = Self.defaultCode(for: response.status)
        var message = response.status.reasonPhrase
        if type != nil {
            // A JSON body that is not an error of ours (e.g. /healthz's status) stays as it is.
            guard let bytes = await Self.collect(response.body, limit: 64 * 1024) else { return response }
            guard let body = try? JSONDecoder().decode(ErrorBody.self, from: Data(bytes.readableBytesView)) else {
                return Response(status: response.status, headers: response.headers, body: .init(byteBuffer: bytes))
            }
            code = body.error
            message = body.message ?? message
        }
        var headers = response.headers
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentLength] = nil
        headers[.cacheControl] = "no-store"
        let page = htmlPage(Failure(status: response.status, code: code, message: message))
        return Response(status: response.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func defaultCode(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "payload_too_large"
        case .badRequest: "bad_request"
        case .unsupportedMediaType: "unsupported_media_type"
        default: status.code >= 500 ? "internal_error" : "request_error"
        }
    }

    /// The bytes of a response body of at most `limit` bytes, nil if larger or unreadable.
    static func collect(_ body: ResponseBody, limit: Int) async -> ByteBuffer? {
        if let length = body.contentLength, length > limit { return nil }
        let sink = BodySink()
        do { try await body.write(BodyCollector(sink: sink, limit: limit)) } catch { return nil }
        return sink.state.withLock { $0.overflow ? nil : $0.buffer }
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
            let code = defaultCode(for: http.status)
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
                self.init(
                    .tooManyRequests,
                    code: error.code.rawValue,
                    message: error.message,
                    headers: [.retryAfter: "\(error.retryAfter ?? 1)"]
                )
            case .accountDisabled: self.init(.forbidden, code: error.code.rawValue, message: error.message)
            case .busy: self.init(.serviceUnavailable, code: error.code.rawValue, message: error.message, headers: [.retryAfter: "1"])
            default: self.init(.internalServerError, code: "internal_error", message: "an internal error occurred")
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
        case let error as StoreError where error.isUnsupported:
            self.init(.notImplemented, code: "unsupported_by_store", message: error.message)
        case is StoreError:
            self = .storeUnavailable()
        case let error as HTTPParserError:
            // The parser refused the body of a request whose head it had already passed on (a bad
            // chunk size, say): the client's fault, answered like ProtocolErrorResponder does.
            let (status, code, message) = ProtocolErrorResponder.answer(for: error)
            self.init(status, code: code, message: message, headers: [.connection: "close"])
        case let error as TokenError:
            self.init(
                .unauthorized,
                code: "invalid_token",
                message: error.message,
                headers: [.wwwAuthenticate: error.wwwAuthenticate],
                reason: error.code.rawValue
            )
        case let error as TokenService.RefreshError:
            self.init(.badRequest, code: "invalid_grant", message: error.message, reason: error.reason.rawValue)
        case let error as TokenKeyError:
            self.init(
                .serviceUnavailable,
                code: "signing_unavailable",
                message: "tokens cannot be issued right now (\(error.code.rawValue))",
                headers: [.retryAfter: "5"]
            )
        case is any BackendUnavailableError:
            self.init(
                .serviceUnavailable,
                code: "store_unavailable",
                message: "the account store is unavailable; try again shortly",
                headers: [.retryAfter: "2"]
            )
        default:
            return nil
        }
    }
}

/// The JSON error shape `APIError` writes.
private struct ErrorBody: Decodable {
    let error: String
    let message: String?
}

/// Where `BodyCollector` gathers a response body.
private final class BodySink: Sendable {
    let state = Mutex<(buffer: ByteBuffer, overflow: Bool)>((ByteBuffer(), false))
}

/// A `ResponseBodyWriter` that keeps what is written (up to `limit` bytes) instead of sending it.
private struct BodyCollector: ResponseBodyWriter {
    let sink: BodySink
    let limit: Int

    mutating func write(_ buffer: ByteBuffer) async throws {
        sink.state.withLock { state in
            guard state.buffer.readableBytes + buffer.readableBytes <= limit else {
                state.overflow = true
                return
            }
            var buffer = buffer
            state.buffer.writeBuffer(&buffer)
        }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

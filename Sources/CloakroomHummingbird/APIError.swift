import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore

/// An error answered as JSON `{"error": CODE, "message": TEXT}` with its HTTP status.
///
/// Codes are stable snake_case strings clients can branch on; messages are for people and never
/// contain a secret, a token or a session ID.
public struct APIError: HTTPResponseError, Sendable {
    /// The HTTP status.
    public let status: HTTPResponse.Status
    /// The stable error code.
    public let code: String
    /// A client-safe explanation.
    public let message: String
    /// Extra response headers (e.g. `Retry-After`).
    public let headers: HTTPFields
    /// A finer code under `code` (e.g. `expired` under `invalid_token`), sent as `reason`.
    public let reason: String?
    /// Also send the message as `error_description`, the member OAuth clients read (RFC 6749
    /// section 5.2); set by ``oauth()``.
    public private(set) var describesForOAuth = false

    /// Creates an error.
    public init(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:], reason: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.reason = reason
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        APIError.jsonResponse(status: status, code: code, message: message, headers: headers, reason: reason, oauth: describesForOAuth)
    }

    /// This error as an OAuth token endpoint answers it (RFC 6749 section 5.2): a refused password
    /// or disabled account is 400 `invalid_grant` (the finer code kept as `reason`), and the
    /// message is also sent as `error_description`.
    public func oauth() -> APIError {
        var error = self
        if code == "invalid_credentials" || code == "account_disabled" {
            error = APIError(.badRequest, code: "invalid_grant", message: message, headers: headers, reason: code)
        }
        error.describesForOAuth = true
        return error
    }

    /// Builds the JSON error response.
    public static func jsonResponse(
        status: HTTPResponse.Status,
        code: String,
        message: String,
        headers extra: HTTPFields = [:],
        reason: String? = nil,
        oauth: Bool = false
    ) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(
            status: status,
            headers: headers,
            body: .init(byteBuffer: jsonBody(code: code, message: message, reason: reason, oauth: oauth))
        )
    }

    /// The JSON error body, keys sorted (identical bytes for identical errors); also written by
    /// ``ProtocolErrorResponder``, which answers before any Hummingbird response exists.
    static func jsonBody(code: String, message: String, reason: String? = nil, oauth: Bool = false) -> ByteBuffer {
        struct Body: Encodable {
            let error: String
            let message: String
            let reason: String?
            let errorDescription: String?
            enum CodingKeys: String, CodingKey {
                case error, message, reason
                case errorDescription = "error_description"
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let body = Body(error: code, message: message, reason: reason, errorDescription: oauth ? message : nil)
        let data = (try? encoder.encode(body)) ?? Data(#"{"error":"internal_error","message":"error"}"#.utf8)
        return ByteBuffer(bytes: data)
    }

    // MARK: - Common errors

    /// 400 for a body that is not valid JSON of the expected shape.
    public static func invalidJSON(_ detail: String) -> APIError { .init(.badRequest, code: "invalid_json", message: detail) }
    /// 400 for a missing or malformed field.
    public static func invalidField(_ name: String, _ detail: String) -> APIError {
        .init(.badRequest, code: "invalid_request", message: "\(name): \(detail)")
    }
    /// 401: no signed-in user.
    public static func unauthenticated() -> APIError { .init(.unauthorized, code: "unauthenticated", message: "sign in first") }
    /// 403: CSRF or origin check failed.
    public static func forbidden(code: String, _ message: String) -> APIError { .init(.forbidden, code: code, message: message) }
    /// 413: body or session data too large.
    public static func tooLarge(_ message: String) -> APIError { .init(.contentTooLarge, code: "payload_too_large", message: message) }
    /// 415: wrong content type.
    public static func unsupportedMediaType(_ expected: String) -> APIError {
        .init(.unsupportedMediaType, code: "unsupported_media_type", message: "Content-Type must be \(expected)")
    }
    /// 503: the session store cannot be reached.
    public static func storeUnavailable() -> APIError {
        .init(
            .serviceUnavailable,
            code: "session_store_unavailable",
            message: "the session store is unavailable; try again shortly",
            headers: [.retryAfter: "2"]
        )
    }
}

import CloakroomCore

/// An OAuth error response (RFC 6749 §4.1.2.1 and §5.2, OpenID Connect Core §3.1.2.6): the code a
/// client acts on, a description for its developer, and the HTTP status for the endpoints that
/// answer directly.
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `error`: one of the registered codes.
    public let code: String
    /// `error_description`: printable ASCII, never a secret.
    public let message: String
    /// The status when answered directly (the token, revocation and introspection endpoints).
    public let status: Int

    public init(_ code: String, _ message: String, status: Int = 400) {
        self.code = code
        self.message = String(message.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" })
        self.status = status
    }

    public var description: String { "\(code): \(message)" }

    public static func invalidRequest(_ message: String) -> OAuthError { .init("invalid_request", message) }
    public static func invalidClient(_ message: String) -> OAuthError { .init("invalid_client", message, status: 401) }
    public static func invalidGrant(_ message: String) -> OAuthError { .init("invalid_grant", message) }
    public static func invalidScope(_ message: String) -> OAuthError { .init("invalid_scope", message) }
    public static func unauthorizedClient(_ message: String) -> OAuthError { .init("unauthorized_client", message) }
    public static func unsupportedResponseType(_ message: String) -> OAuthError { .init("unsupported_response_type", message) }
    public static func unsupportedGrantType(_ message: String) -> OAuthError { .init("unsupported_grant_type", message) }
    public static func accessDenied(_ message: String) -> OAuthError { .init("access_denied", message, status: 403) }
    public static func loginRequired(_ message: String) -> OAuthError { .init("login_required", message) }
    public static func consentRequired(_ message: String) -> OAuthError { .init("consent_required", message) }
    public static func serverError(_ message: String) -> OAuthError { .init("server_error", message, status: 500) }
    public static func temporarilyUnavailable(_ message: String) -> OAuthError { .init("temporarily_unavailable", message, status: 503) }

    /// `redirectURI` with this error, `state` (when the request had one) and `iss` (RFC 9207) added
    /// to its query, keeping the query it has.
    public func redirect(to redirectURI: String, state: String?, issuer: String) -> String {
        var pairs = [("error", code), ("error_description", message)]
        if let state { pairs.append(("state", state)) }
        pairs.append(("iss", issuer))
        return Self.appending(pairs, to: redirectURI)
    }

    /// `uri` with `pairs` added to its query (after `&` when it has one, else `?`).
    public static func appending(_ pairs: [(String, String)], to uri: String) -> String {
        uri + (uri.contains("?") ? "&" : "?") + FormURLEncoded.encode(pairs)
    }
}

import HTTPTypes
public import Hummingbird

/// Refuses state-changing requests from other origins (OWASP CSRF Prevention Cheat Sheet,
/// "Verifying Origin with standard headers" and Fetch Metadata).
///
/// For POST, PUT, PATCH and DELETE: an `Origin` header that is not one of `allowedOrigins` (or,
/// when that list is empty, not the request's own `Host`) is refused with 403
/// `cross_origin_request`; so is `Sec-Fetch-Site: cross-site`. Requests with neither header come
/// from non-browser clients and pass (they carry no ambient cookies a site could abuse).
public struct OriginCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: Set<String>

    /// The scheme the site is served over, when known: an `Origin` with the other scheme is
    /// another origin (RFC 6454), even on the same host.
    let scheme: String?

    /// Paths that use no cookie (an OAuth token endpoint, called by other sites' scripts) and so
    /// need no check.
    let exemptPaths: Set<String>

    /// Creates the check; `allowedOrigins` like `https://example.com` (scheme, host, port).
    /// `secure` says the site is served over HTTPS (true) or plain HTTP (false); nil accepts
    /// either scheme for the request's own host.
    public init(allowedOrigins: [String] = [], secure: Bool? = nil, exemptPaths: Set<String> = []) {
        self.allowedOrigins = Set(allowedOrigins.map { $0.lowercased() })
        self.scheme = secure.map { $0 ? "https" : "http" }
        self.exemptPaths = exemptPaths
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch request.method {
        case .get, .head, .options, .trace:
            return try await next(request, context)
        default:
            break
        }
        if !exemptPaths.isEmpty, exemptPaths.contains(request.uri.path) {
            return try await next(request, context)
        }
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!]?.lowercased() == "cross-site" {
            throw APIError.forbidden(code: "cross_origin_request", "cross-site requests may not change state")
        }
        if let origin = request.headers[.origin]?.lowercased() {
            guard isAllowed(origin: origin, host: request.head.authority) else {
                throw APIError.forbidden(code: "cross_origin_request", "requests from origin \(origin.prefix(100)) may not change state here")
            }
        }
        return try await next(request, context)
    }

    func isAllowed(origin: String, host: String?) -> Bool {
        if !allowedOrigins.isEmpty { return allowedOrigins.contains(origin) }
        guard let host = host?.lowercased(), origin != "null" else { return false }
        if let scheme { return origin == scheme + "://" + host }
        return origin == "http://" + host || origin == "https://" + host
    }
}

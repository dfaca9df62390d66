import CloakroomCore
import HTTPTypes
public import Hummingbird

/// Refuses requests for a host this server does not answer for, with 421 Misdirected Request
/// (RFC 9110 section 15.5.20): the defence against DNS rebinding, where a page on an attacker's
/// name that now resolves to this server sends requests with its own name in `Host`, and would
/// pass an Origin check that compares `Origin` with `Host`.
///
/// Allowed: the names given (the issuer's host, the allowed origins' hosts, `--allowed-host`),
/// and loopback names always (`localhost`, 127.0.0.0/8, `::1`: a rebinding page cannot make a
/// browser send them). A request without `Host` passes (HTTP/1.0 clients; browsers always send it),
/// and so do the `exemptPaths` (a load balancer's health check names a node by its address).
public struct HostCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedHosts: Set<String>
    let exemptPaths: Set<String>

    /// Creates the check; `allowedHosts` are host names (any case, with or without a port, IPv6 in
    /// brackets or not). Empty: only loopback names. `exemptPaths` are answered for any host: keep
    /// them to paths that read nothing of a session or an account (`/healthz`).
    public init(allowedHosts: [String], exemptPaths: [String] = []) {
        self.allowedHosts = Set(allowedHosts.map { IPAddressRange.hostname(ofAuthority: $0) })
        self.exemptPaths = Set(exemptPaths)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authority = request.head.authority, !isAllowed(authority: authority), !exemptPaths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        let host = IPAddressRange.hostname(ofAuthority: authority)
        throw APIError(
            .misdirectedRequest,
            code: "misdirected_request",
            message: "this server does not answer for host \(String(host.prefix(100)).filter { $0.isASCII && !$0.isNewline })"
        )
    }

    /// Whether a request with this `Host` is for this server.
    public func isAllowed(authority: String) -> Bool {
        let host = IPAddressRange.hostname(ofAuthority: authority)
        return allowedHosts.contains(host) || IPAddressRange.isLoopback(host: host)
    }
}

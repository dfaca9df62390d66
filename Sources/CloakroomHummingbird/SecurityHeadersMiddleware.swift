import HTTPTypes
import Hummingbird

/// Adds the response headers every Cloakroom page should carry (OWASP HTTP Headers Cheat Sheet):
/// `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`,
/// a restrictive `Content-Security-Policy`, and `Strict-Transport-Security` in HTTPS deployments.
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let hsts: Bool

    /// Creates the middleware; `hsts` when served over HTTPS.
    public init(hsts: Bool) {
        self.hsts = hsts
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        }
        if hsts { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }
}

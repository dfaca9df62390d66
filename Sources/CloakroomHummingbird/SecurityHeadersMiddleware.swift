import HTTPTypes
public import Hummingbird

/// Adds the response headers every Cloakroom page should carry (OWASP HTTP Headers Cheat Sheet):
/// `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`,
/// `Cross-Origin-Opener-Policy: same-origin` (no cross-origin window keeps a handle on ours),
/// a `Permissions-Policy` that denies powerful features (camera, microphone, geolocation …),
/// a restrictive `Content-Security-Policy` (scripts and styles only from this origin, no inline
/// ones), and `Strict-Transport-Security` in HTTPS deployments.
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let hsts: Bool
    let includeSubdomains: Bool

    /// Creates the middleware; `hsts` when served over HTTPS. `includeSubdomains` extends HSTS to
    /// every subdomain (RFC 6797 section 6.1.2): only when all of them serve HTTPS.
    public init(hsts: Bool, includeSubdomains: Bool = false) {
        self.hsts = hsts
        self.includeSubdomains = includeSubdomains
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("Permissions-Policy")!] = cloakroomPermissionsPolicy
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] =
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        }
        if hsts { response.headers[.strictTransportSecurity] = includeSubdomains ? "max-age=31536000; includeSubDomains" : "max-age=31536000" }
        return response
    }
}

/// Every powerful feature denied to this origin and any frame (`Permissions-Policy`).
private let cloakroomPermissionsPolicy = [
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen", "geolocation",
    "gyroscope", "hid", "idle-detection", "magnetometer", "microphone", "midi", "payment", "picture-in-picture",
    "publickey-credentials-get", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
].map { "\($0)=()" }.joined(separator: ", ")

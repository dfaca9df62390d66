import HTTPTypes
public import Hummingbird

/// Adds the response headers every Cloakroom page should carry (OWASP HTTP Headers Cheat Sheet):
/// `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`,
/// `Cross-Origin-Opener-Policy: same-origin` (no cross-origin window keeps a handle on ours),
/// a `Permissions-Policy` that denies powerful features (camera, microphone, geolocation …),
/// a restrictive `Content-Security-Policy` (scripts and styles only from this origin, no inline
/// ones), and `Strict-Transport-Security` in HTTPS deployments.
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The fields set on every response, built (and validated) once rather than per response.
    private let fields: [HTTPField]
    /// Their names.
    private let names: Set<HTTPField.Name>
    /// The default policy, for responses that do not bring their own.
    private let contentSecurityPolicy = HTTPField(
        name: .contentSecurityPolicy,
        value: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )

    /// Creates the middleware; `hsts` when served over HTTPS. `includeSubdomains` extends HSTS to
    /// every subdomain (RFC 6797 section 6.1.2): only when all of them serve HTTPS.
    public init(hsts: Bool, includeSubdomains: Bool = false) {
        var fields = [
            HTTPField(name: .xContentTypeOptions, value: "nosniff"),
            HTTPField(name: HTTPField.Name("X-Frame-Options")!, value: "DENY"),
            HTTPField(name: HTTPField.Name("Referrer-Policy")!, value: "same-origin"),
            HTTPField(name: HTTPField.Name("Cross-Origin-Opener-Policy")!, value: "same-origin"),
            HTTPField(name: HTTPField.Name("Permissions-Policy")!, value: cloakroomPermissionsPolicy),
        ]
        if hsts {
            fields.append(
                HTTPField(name: .strictTransportSecurity, value: includeSubdomains ? "max-age=31536000; includeSubDomains" : "max-age=31536000")
            )
        }
        self.fields = fields
        self.names = Set(fields.map(\.name))
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        // Each replaces whatever the handler set under its name. A handler rarely sets one, so
        // one look at the response's few fields usually lets all of them be appended at once.
        var ownPolicy = false
        var overlaps = false
        for field in response.headers {
            if field.name == .contentSecurityPolicy { ownPolicy = true } else if names.contains(field.name) { overlaps = true }
        }
        if overlaps {
            for field in fields { response.headers[fields: field.name] = [field] }
        } else {
            response.headers.append(contentsOf: fields)
        }
        if !ownPolicy { response.headers.append(contentSecurityPolicy) }
        return response
    }
}

/// Every powerful feature denied to this origin and any frame (`Permissions-Policy`).
private let cloakroomPermissionsPolicy = [
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen", "geolocation",
    "gyroscope", "hid", "idle-detection", "magnetometer", "microphone", "midi", "payment", "picture-in-picture",
    "publickey-credentials-get", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
].map { "\($0)=()" }.joined(separator: ", ")

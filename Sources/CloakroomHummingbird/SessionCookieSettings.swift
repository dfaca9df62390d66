public import CloakroomCore

/// How the session cookie is written.
///
/// Secure by default: HttpOnly, SameSite=Lax, Path=/. With `secure` (HTTPS deployments) the
/// cookie is `Secure` and its name takes the `__Host-` prefix, which binds it to this exact host
/// and path (RFC 6265bis 4.1.3.2) so a sibling subdomain cannot plant or overwrite it.
public struct SessionCookieSettings: Sendable {
    /// Base name; `cookieName` adds the `__Host-` prefix in secure mode.
    public var baseName: String
    /// Served over HTTPS: Secure + `__Host-` name.
    public var secure: Bool
    /// SameSite attribute (Lax by default; Strict breaks arriving from links while signed in).
    public var sameSite: SameSite

    /// Creates settings.
    public init(baseName: String = "cloakroom", secure: Bool = false, sameSite: SameSite = .lax) {
        self.baseName = baseName
        self.secure = secure
        self.sameSite = sameSite
    }

    /// The cookie's name as sent.
    public var cookieName: String {
        if !secure { return baseName }
        let lower = baseName.lowercased()
        if lower.hasPrefix("__host-") { return baseName }
        if lower.hasPrefix("__secure-") { return "__Host-" + baseName.dropFirst("__secure-".count) }
        return "__Host-" + baseName
    }

    /// The name of another cookie of this site beside the session cookie, `BASE-suffix`
    /// (remember-me, preferences, the known device), `__Host-` prefixed in secure mode like it.
    public func companionName(_ suffix: String) -> String {
        (secure ? "__Host-" : "") + baseName + "-" + suffix
    }

    /// The `Set-Cookie` value carrying `id`.
    public func cookie(id: String, maxAge: Int?) -> Cookie {
        Cookie(name: cookieName, value: id, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: sameSite)
    }

    /// The `Set-Cookie` value that removes the cookie.
    public func expiredCookie() -> Cookie {
        Cookie.expired(name: cookieName, path: "/", domain: nil, secure: secure, httpOnly: true, sameSite: sameSite)
    }
}

public import CloakroomCore

/// Names and attributes of the two cookies that carry tokens with `--token-transport cookie`.
///
/// Both are HttpOnly (page scripts never see a token) and SameSite=Lax. The access token cookie
/// is sent everywhere (`Path=/`, `__Host-` prefix in secure mode); the refresh token cookie only to
/// the token endpoint (`Path=/api/token`, so `__Secure-` rather than `__Host-` in secure mode).
public struct TokenCookieSettings: Sendable, Hashable {
    /// Base name; the cookies are `BASE-at` and `BASE-rt`.
    public var baseName: String
    /// Served over HTTPS: Secure + prefixed names.
    public var secure: Bool
    /// The path the refresh cookie is sent to.
    public var refreshPath: String

    public init(baseName: String = "cloakroom", secure: Bool = false, refreshPath: String = "/api/token") {
        self.baseName = baseName
        self.secure = secure
        self.refreshPath = refreshPath
    }

    /// The access token cookie's name.
    public var accessCookieName: String { secure ? "__Host-\(baseName)-at" : "\(baseName)-at" }
    /// The refresh token cookie's name.
    public var refreshCookieName: String { secure ? "__Secure-\(baseName)-rt" : "\(baseName)-rt" }

    /// The cookie carrying an access token for `maxAge` seconds.
    public func accessCookie(_ token: String, maxAge: Int) -> Cookie {
        Cookie(name: accessCookieName, value: token, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }

    /// The cookie carrying a refresh token for `maxAge` seconds.
    public func refreshCookie(_ token: String, maxAge: Int) -> Cookie {
        Cookie(name: refreshCookieName, value: token, maxAge: maxAge, path: refreshPath, secure: secure, httpOnly: true, sameSite: .lax)
    }

    /// The two cookies that remove both.
    public func expiredCookies() -> [Cookie] {
        [
            Cookie.expired(name: accessCookieName, path: "/", domain: nil, secure: secure, httpOnly: true, sameSite: .lax),
            Cookie.expired(name: refreshCookieName, path: refreshPath, domain: nil, secure: secure, httpOnly: true, sameSite: .lax),
        ]
    }
}

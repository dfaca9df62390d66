public import Foundation

/// A cookie as held in a `CookieJar`: the fields of the RFC 6265bis section 5.7 storage model.
///
/// Returned by `CookieJar.cookies(for:now:)` and `CookieJar.allCookies`. `domain` is
/// the canonical (lower-case) host for a host-only cookie and the `Domain` attribute
/// otherwise; `path` is absolute. `expiry == nil` marks a session cookie
/// (persistent-flag false).
public struct StoredCookie: Sendable, Hashable {
    /// The cookie-name; empty for a nameless cookie.
    public var name: String
    /// The cookie-value exactly as received.
    public var value: String
    /// Lower-case host name or IP address the cookie belongs to.
    public var domain: String
    /// The cookie's path; always starts with `/`.
    public var path: String
    /// `true` when the cookie is sent to `domain` only, `false` when also sent to its subdomains.
    public var hostOnly: Bool
    /// Whether the cookie is sent only over secure (https/wss) requests.
    public var secure: Bool
    /// Whether the cookie was marked `HttpOnly`.
    public var httpOnly: Bool
    /// The `SameSite` enforcement; `nil` means "Default".
    public var sameSite: SameSite?
    /// Whether the cookie was marked `Partitioned` (CHIPS).
    public var partitioned: Bool
    /// When the cookie expires; `nil` for a session cookie.
    public var expiry: Date?
    /// When the cookie was first created; kept when a later `Set-Cookie` replaces it (section 5.7 step 22).
    public var creation: Date
    /// When the cookie was last created or replaced.
    ///
    /// `CookieJar`'s retrieval functions are non-mutating, so they do not update this field.
    public var lastAccess: Date

    /// Creates a stored cookie from its fields.
    public init(
        name: String,
        value: String,
        domain: String,
        path: String,
        hostOnly: Bool,
        secure: Bool,
        httpOnly: Bool,
        sameSite: SameSite?,
        partitioned: Bool = false,
        expiry: Date?,
        creation: Date,
        lastAccess: Date
    ) {
        self.name = name
        self.value = value
        self.domain = domain
        self.path = path
        self.hostOnly = hostOnly
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.partitioned = partitioned
        self.expiry = expiry
        self.creation = creation
        self.lastAccess = lastAccess
    }

    /// Whether the cookie survives the end of a session (it has an expiry time).
    public var isPersistent: Bool {
        expiry != nil
    }

    /// Whether the cookie has expired at `now`: its expiry time is at or before `now`.
    public func isExpired(at now: Date) -> Bool {
        guard let expiry else {
            return false
        }
        return expiry <= now
    }
}

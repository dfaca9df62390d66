public import Foundation

/// The result of parsing one `Set-Cookie` field value the way a user agent does.
///
/// Produced by `SetCookieParser.parse(_:)` (RFC 6265bis section 5.6). It records the
/// cookie-name, cookie-value and the *last* occurrence of each recognised attribute,
/// which is all the storage model (section 5.7) consults. Interpreting the fields
/// against a request URI and the current time — default-path, domain matching,
/// the 400-day age cap, prefix and `Secure` rules — is `CookieJar`'s job.
public struct ParsedSetCookie: Sendable, Hashable {
    /// The cookie-name with surrounding whitespace removed; never empty when produced by
    /// `SetCookieParser`, which ignores nameless cookies (RFC 6265 section 5.2 steps 2 and 5).
    public var name: String
    /// The cookie-value with surrounding whitespace removed, kept as sent (quotes included).
    public var value: String
    /// The last `Expires` attribute that parsed as a cookie-date (section 5.6.1); `nil` if none did.
    public var expires: Date?
    /// The last well-formed `Max-Age` attribute in raw seconds (section 5.6.2); may be zero or
    /// negative (meaning "expire now"), and is clamped to `Int`'s range. `nil` if none was well formed.
    public var maxAge: Int?
    /// The last `Domain` attribute with one leading `.` removed and ASCII-lower-cased (section 5.6.3).
    ///
    /// `nil` when there was no `Domain` attribute. A `Domain` attribute with an empty value
    /// (`Domain=`) is ignored entirely (RFC 6265 section 5.2.3), so an earlier one stays in
    /// force. `Domain=.` yields an empty string, which makes the cookie host-only.
    public var domain: String?
    /// The last `Path` attribute value as sent (trimmed), or `nil` when there was none.
    ///
    /// Section 5.6.4: a value that is empty or does not start with `/` stands for the
    /// request's default-path, which the parser cannot know; `CookieJar` substitutes it.
    public var path: String?
    /// Whether a `Secure` attribute was present (any value is ignored, section 5.6.5).
    public var secure: Bool
    /// Whether an `HttpOnly` attribute was present (any value is ignored, section 5.6.6).
    public var httpOnly: Bool
    /// The last `SameSite` attribute's enforcement (section 5.6.7); `nil` means "Default",
    /// which is also what an unrecognised value yields.
    public var sameSite: SameSite?
    /// Whether a `Partitioned` attribute was present (CHIPS, draft-cutler-httpbis-partitioned-cookies).
    public var partitioned: Bool

    /// Creates a parsed cookie from its parts; mainly useful for tests and for
    /// feeding `CookieJar.receive(_:from:now:)` directly.
    public init(
        name: String,
        value: String,
        expires: Date? = nil,
        maxAge: Int? = nil,
        domain: String? = nil,
        path: String? = nil,
        secure: Bool = false,
        httpOnly: Bool = false,
        sameSite: SameSite? = nil,
        partitioned: Bool = false
    ) {
        self.name = name
        self.value = value
        self.expires = expires
        self.maxAge = maxAge
        self.domain = domain
        self.path = path
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.partitioned = partitioned
    }
}

public import Foundation

/// A cookie a server wants to set, serialised as a `Set-Cookie` field value.
///
/// The server side of RFC 6265bis (section 4.1): `validate()` checks the
/// well-behaved profile and the rules browsers enforce on receipt, and
/// `setCookieHeaderValue()` produces the field value. Construction never fails;
/// problems surface as `CookieError`s with distinct codes:
///
/// | code | rule |
/// | --- | --- |
/// | `empty_name` | the name is empty |
/// | `invalid_name` | the name is not a token (RFC 9110 tchar only: no CTLs, spaces, separators, `=` or `;`) |
/// | `invalid_value` | the value is not `*cookie-octet`, optionally wrapped in one pair of DQUOTEs |
/// | `cookie_too_large` | name plus value exceed 4096 octets |
/// | `invalid_max_age` | `maxAge` is negative |
/// | `invalid_expires` | `expires` lies outside the years 1601–9999 a cookie-date can express |
/// | `invalid_domain` | `domain` is empty or holds a CTL, `;`, whitespace or a non-ASCII character |
/// | `domain_too_long` | `domain` exceeds 1024 octets |
/// | `invalid_path` | `path` holds a CTL, `;` or a non-ASCII character |
/// | `relative_path` | `path` does not start with `/` |
/// | `path_too_long` | `path` exceeds 1024 octets |
/// | `samesite_none_requires_secure` | `SameSite=None` without `Secure` |
/// | `partitioned_requires_secure` | `Partitioned` without `Secure` |
/// | `secure_prefix_requires_secure` | a `__Secure-` name (any case) without `Secure` |
/// | `host_prefix_requires_secure` | a `__Host-` name (any case) without `Secure` |
/// | `host_prefix_requires_root_path` | a `__Host-` name without `Path=/` |
/// | `host_prefix_forbids_domain` | a `__Host-` name with a `Domain` |
///
/// Error messages name the rule and, where it is valid, the cookie name, but never the value.
public struct Cookie: Sendable, Hashable {
    /// The cookie-name; must be a non-empty token.
    public var name: String
    /// The cookie-value: cookie-octets, optionally wrapped in DQUOTEs; may be empty.
    public var value: String
    /// Serialised as `Expires=` in IMF-fixdate form; `nil` omits the attribute.
    public var expires: Date?
    /// Serialised as `Max-Age=` (seconds, zero or more); `nil` omits the attribute.
    public var maxAge: Int?
    /// Serialised as `Domain=`; `nil` makes a host-only cookie.
    public var domain: String?
    /// Serialised as `Path=`; must start with `/`. `nil` leaves the browser's default-path.
    public var path: String?
    /// Adds the `Secure` attribute: the cookie is sent over secure channels only.
    public var secure: Bool
    /// Adds the `HttpOnly` attribute: the cookie is hidden from non-HTTP APIs.
    public var httpOnly: Bool
    /// Adds `SameSite=<value>`; `nil` omits the attribute.
    public var sameSite: SameSite?
    /// Adds the `Partitioned` attribute (CHIPS); requires `secure`.
    public var partitioned: Bool

    /// Creates a cookie; nothing is validated until `validate()` or `setCookieHeaderValue()`.
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

    /// The longest `name` plus `value`, in octets (RFC 6265bis section 5.6 step 5).
    public static let maximumNameValueLength = 4096

    /// The longest `Domain` or `Path` value, in octets (RFC 6265bis section 5.6).
    public static let maximumAttributeValueLength = 1024

    /// Validates then serialises a Set-Cookie header value (without the "Set-Cookie: " prefix).
    ///
    /// Attributes appear in the order `Expires`, `Max-Age`, `Domain`, `Path`, `Secure`,
    /// `HttpOnly`, `SameSite`, `Partitioned`, separated by `"; "` (RFC 6265bis section 4.1.1).
    ///
    /// - Throws: `CookieError` for the first rule violated; see the type's table of codes.
    public func setCookieHeaderValue() throws(CookieError) -> String {
        try validate()
        var parts = ["\(name)=\(value)"]
        if let expires {
            parts.append("Expires=\(CookieDate.format(expires))")
        }
        if let maxAge {
            parts.append("Max-Age=\(maxAge)")
        }
        if let domain {
            parts.append("Domain=\(domain)")
        }
        if let path {
            parts.append("Path=\(path)")
        }
        if secure {
            parts.append("Secure")
        }
        if httpOnly {
            parts.append("HttpOnly")
        }
        if let sameSite {
            parts.append("SameSite=\(sameSite.rawValue)")
        }
        if partitioned {
            parts.append("Partitioned")
        }
        return parts.joined(separator: "; ")
    }

    /// Checks the cookie against RFC 6265bis section 4.1 and the rules user agents enforce.
    ///
    /// Checks run in the order of the table in the type's documentation and the first
    /// failure is thrown.
    ///
    /// - Throws: `CookieError` naming the violated rule; the message never contains the value.
    public func validate() throws(CookieError) {
        try validateNameAndValue()
        try validateLifetime()
        try validateScope()
        try validateSecurityRules()
    }

    /// A cookie that deletes `name` in the browser: empty value, Max-Age=0, Expires in 1970, same path/domain/secure/prefix rules.
    ///
    /// RFC 6265bis section 3.1: a cookie is only replaced (here: removed) when name,
    /// domain and path match the stored one, so pass the values used to set it. The
    /// result still obeys the rules the browser applies on receipt: a `__Secure-` or
    /// `__Host-` name (any case), `SameSite=None` or `partitioned` force `secure`, and a
    /// `__Host-` name forces `Path=/` without `Domain`.
    public static func expired(
        name: String,
        path: String?,
        domain: String?,
        secure: Bool,
        httpOnly: Bool,
        sameSite: SameSite?,
        partitioned: Bool = false
    ) -> Cookie {
        var cookie = Cookie(
            name: name,
            value: "",
            expires: Date(timeIntervalSince1970: 0),
            maxAge: 0,
            domain: domain,
            path: path,
            secure: secure,
            httpOnly: httpOnly,
            sameSite: sameSite,
            partitioned: partitioned
        )
        let hostPrefixed = CookieSyntax.hasPrefixIgnoringASCIICase(name, CookieSyntax.hostPrefix)
        if hostPrefixed || CookieSyntax.hasPrefixIgnoringASCIICase(name, CookieSyntax.securePrefix)
            || sameSite == SameSite.none || partitioned
        {
            cookie.secure = true
        }
        if hostPrefixed {
            cookie.path = "/"
            cookie.domain = nil
        }
        return cookie
    }

    // MARK: - Validation steps

    /// How the cookie is referred to in messages: by name when the name is a valid token.
    private var subject: String {
        CookieSyntax.isToken(name) ? "cookie '\(name)'" : "cookie"
    }

    private func validateNameAndValue() throws(CookieError) {
        if name.isEmpty {
            throw CookieError(code: "empty_name", message: "cookie name must not be empty")
        }
        if !CookieSyntax.isToken(name) {
            throw CookieError(
                code: "invalid_name",
                message: "cookie name must be a token: no control characters, spaces, separators, '=' or ';'"
            )
        }
        if !CookieSyntax.isCookieValue(value) {
            throw CookieError(
                code: "invalid_value",
                message: "\(subject): value must consist of cookie-octets (printable ASCII except space, "
                    + "'\"', ',', ';' and '\\'), optionally wrapped in double quotes"
            )
        }
        if name.utf8.count + value.utf8.count > Self.maximumNameValueLength {
            throw CookieError(
                code: "cookie_too_large",
                message: "\(subject): name and value together exceed \(Self.maximumNameValueLength) bytes"
            )
        }
    }

    private func validateLifetime() throws(CookieError) {
        if let maxAge, maxAge < 0 {
            throw CookieError(code: "invalid_max_age", message: "\(subject): Max-Age must not be negative")
        }
        if let expires {
            // 1601-01-01T00:00:00Z ..< 10000-01-01T00:00:00Z, the range a cookie-date can express.
            let seconds = expires.timeIntervalSince1970
            guard seconds >= -11_644_473_600, seconds < 253_402_300_800 else {
                throw CookieError(
                    code: "invalid_expires",
                    message: "\(subject): Expires must lie between the years 1601 and 9999"
                )
            }
        }
    }

    private func validateScope() throws(CookieError) {
        if let domain {
            let valid =
                !domain.isEmpty
                && domain.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != CookieSyntax.semicolon }
            if !valid {
                throw CookieError(
                    code: "invalid_domain",
                    message: "\(subject): Domain must be non-empty printable ASCII without spaces or ';'"
                )
            }
            if domain.utf8.count > Self.maximumAttributeValueLength {
                throw CookieError(
                    code: "domain_too_long",
                    message: "\(subject): Domain exceeds \(Self.maximumAttributeValueLength) bytes"
                )
            }
        }
        if let path {
            if !path.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != CookieSyntax.semicolon }) {
                throw CookieError(
                    code: "invalid_path",
                    message: "\(subject): Path must be printable ASCII without control characters or ';'"
                )
            }
            if path.utf8.first != CookieSyntax.slash {
                throw CookieError(code: "relative_path", message: "\(subject): Path must start with '/'")
            }
            if path.utf8.count > Self.maximumAttributeValueLength {
                throw CookieError(
                    code: "path_too_long",
                    message: "\(subject): Path exceeds \(Self.maximumAttributeValueLength) bytes"
                )
            }
        }
    }

    private func validateSecurityRules() throws(CookieError) {
        if sameSite == SameSite.none && !secure {
            throw CookieError(
                code: "samesite_none_requires_secure",
                message: "\(subject): SameSite=None requires the Secure attribute"
            )
        }
        if partitioned && !secure {
            throw CookieError(
                code: "partitioned_requires_secure",
                message: "\(subject): Partitioned requires the Secure attribute"
            )
        }
        if CookieSyntax.hasPrefixIgnoringASCIICase(name, CookieSyntax.securePrefix) && !secure {
            throw CookieError(
                code: "secure_prefix_requires_secure",
                message: "\(subject): the __Secure- prefix requires the Secure attribute"
            )
        }
        if CookieSyntax.hasPrefixIgnoringASCIICase(name, CookieSyntax.hostPrefix) {
            if !secure {
                throw CookieError(
                    code: "host_prefix_requires_secure",
                    message: "\(subject): the __Host- prefix requires the Secure attribute"
                )
            }
            if path != "/" {
                throw CookieError(
                    code: "host_prefix_requires_root_path",
                    message: "\(subject): the __Host- prefix requires Path=/"
                )
            }
            if domain != nil {
                throw CookieError(
                    code: "host_prefix_forbids_domain",
                    message: "\(subject): the __Host- prefix forbids the Domain attribute"
                )
            }
        }
    }
}

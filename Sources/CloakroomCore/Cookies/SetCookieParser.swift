/// The user-agent side `Set-Cookie` parsing algorithm.
///
/// RFC 6265bis section 5.6: deliberately liberal, so that it interoperates with
/// servers that do not follow the section 4.1 grammar. It never throws; input that
/// the algorithm says to ignore yields `nil`.
///
/// Where RFC 6265bis departs from RFC 6265 (section 5.2), this parser keeps the RFC 6265
/// behaviour in three places, chosen for interoperability with servers and to pass the
/// IETF http-state test suite unchanged:
/// - **Nameless cookies are ignored.** A name-value-pair without `=` (`Set-Cookie: foo`)
///   or with an empty name (`Set-Cookie: =foo`) makes the parser return `nil`
///   (RFC 6265 section 5.2 steps 2 and 5). RFC 6265bis would instead store a cookie with
///   an empty name and send it as a bare value, which servers cannot tell apart from a
///   malformed `Cookie` header and which most server-side parsers drop.
/// - **NUL, CR and LF truncate.** The header is cut at the first NUL, CR or LF and the
///   rest is parsed, as the suite and several user agents do. Any other control
///   character except HTAB still drops the whole header (RFC 6265bis section 5.6 step 1).
/// - **An empty `Domain` attribute is ignored entirely** (RFC 6265 section 5.2.3: "the
///   user agent SHOULD ignore the cookie-av entirely"), so an earlier `Domain`
///   attribute stays in force. RFC 6265bis would let `Domain=` make the cookie host-only.
public struct SetCookieParser: Sendable {
    /// The longest attribute value, in octets, that is not ignored (section 5.6, attribute step 6).
    public static let maximumAttributeValueLength = 1024

    /// The longest cookie-name plus cookie-value, in octets, that is accepted (section 5.6 step 5).
    public static let maximumNameValueLength = 4096

    /// Parses one `Set-Cookie` field value (without the `Set-Cookie:` prefix).
    ///
    /// Follows RFC 6265bis section 5.6, with the RFC 6265 choices listed on the type:
    /// 1. The header is truncated at its first NUL, CR or LF (%x00 / %x0D / %x0A); any
    ///    remaining CTL other than HTAB (%x01-08 / %x0B-0C / %x0E-1F / %x7F) → `nil`.
    /// 2. The name-value-pair is everything before the first `;`; without `=` → `nil`.
    /// 3. Name and value are stripped of surrounding SP/HTAB; an empty name (RFC 6265
    ///    section 5.2 step 5) or a name and value together longer than 4096 octets → `nil`.
    /// 4. Each `;`-separated attribute is split at its first `=`, trimmed, ignored if its
    ///    value exceeds 1024 octets, and matched case-insensitively against
    ///    `Expires`, `Max-Age`, `Domain`, `Path`, `Secure`, `HttpOnly`, `SameSite` and
    ///    `Partitioned`; later occurrences override earlier ones, unknown names are ignored,
    ///    and so is a `Domain` attribute with an empty value.
    ///
    /// Commas are not separators: a folded `a=b, c=d` is one cookie named `a`.
    public static func parse(_ header: String) -> ParsedSetCookie? {
        var bytes = Array(header.utf8)
        if let end = bytes.firstIndex(where: CookieSyntax.isTruncatingControl) {
            bytes.removeSubrange(end...)
        }
        if bytes.contains(where: CookieSyntax.isForbiddenControl) {
            return nil
        }

        let pairEnd = bytes.firstIndex(of: CookieSyntax.semicolon) ?? bytes.endIndex
        let pair = bytes[..<pairEnd]
        guard let equals = pair.firstIndex(of: CookieSyntax.equals) else {
            return nil  // RFC 6265 section 5.2 step 2: no '=' (RFC 6265bis: a nameless cookie).
        }
        let name = CookieSyntax.trimWhitespace(pair[..<equals])
        let value = CookieSyntax.trimWhitespace(pair[(equals + 1)...])
        if name.isEmpty {
            return nil  // RFC 6265 section 5.2 step 5 (RFC 6265bis: a nameless cookie).
        }
        if name.count + value.count > maximumNameValueLength {
            return nil
        }

        var cookie = ParsedSetCookie(name: CookieSyntax.string(name), value: CookieSyntax.string(value))
        let attributes = bytes[pairEnd...].split(
            separator: CookieSyntax.semicolon,
            omittingEmptySubsequences: false
        ).dropFirst()
        for attribute in attributes {
            apply(attribute, to: &cookie)
        }
        return cookie
    }

    /// Processes one cookie-av (section 5.6 attribute steps 4–7 and sections 5.6.1–5.6.7).
    private static func apply(_ attribute: ArraySlice<UInt8>, to cookie: inout ParsedSetCookie) {
        let rawName: ArraySlice<UInt8>
        let rawValue: ArraySlice<UInt8>
        if let equals = attribute.firstIndex(of: CookieSyntax.equals) {
            rawName = attribute[..<equals]
            rawValue = attribute[(equals + 1)...]
        } else {
            rawName = attribute
            rawValue = []
        }
        let name = CookieSyntax.trimWhitespace(rawName)
        let value = CookieSyntax.trimWhitespace(rawValue)
        if value.count > maximumAttributeValueLength {
            return
        }

        if CookieSyntax.equalsIgnoringASCIICase(name, "Expires") {
            if let date = CookieDate.parse(CookieSyntax.string(value)) {
                cookie.expires = date
            }
        } else if CookieSyntax.equalsIgnoringASCIICase(name, "Max-Age") {
            if let seconds = parseMaxAge(value) {
                cookie.maxAge = seconds
            }
        } else if CookieSyntax.equalsIgnoringASCIICase(name, "Domain") {
            // RFC 6265 section 5.2.3: an empty value is ignored entirely, so an earlier
            // Domain attribute stays in force. (`Domain=.` is not empty and yields "".)
            if value.isEmpty {
                return
            }
            var domain = value
            if domain.first == CookieSyntax.dot {
                domain = domain.dropFirst()
            }
            cookie.domain = CookieSyntax.string(domain.map(CookieSyntax.lowercase))
        } else if CookieSyntax.equalsIgnoringASCIICase(name, "Path") {
            cookie.path = CookieSyntax.string(value)
        } else if CookieSyntax.equalsIgnoringASCIICase(name, "Secure") {
            cookie.secure = true
        } else if CookieSyntax.equalsIgnoringASCIICase(name, "HttpOnly") {
            cookie.httpOnly = true
        } else if CookieSyntax.equalsIgnoringASCIICase(name, "SameSite") {
            cookie.sameSite = SameSite.allCases.first {
                CookieSyntax.equalsIgnoringASCIICase(value, $0.rawValue)
            }
        } else if CookieSyntax.equalsIgnoringASCIICase(name, "Partitioned") {
            cookie.partitioned = true
        }
    }

    /// Section 5.6.2 steps 1–3: an optional leading `-` then only DIGITs; saturates at `Int`'s bounds.
    private static func parseMaxAge(_ value: ArraySlice<UInt8>) -> Int? {
        guard let first = value.first else {
            return nil
        }
        let negative = first == UInt8(ascii: "-")
        let digits = negative ? value.dropFirst() : value
        guard !digits.isEmpty, digits.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return nil
        }
        var result = 0
        for digit in digits {
            let (shifted, overflowA) = result.multipliedReportingOverflow(by: 10)
            let (added, overflowB) = shifted.addingReportingOverflow(Int(digit - 0x30))
            if overflowA || overflowB {
                return negative ? Int.min : Int.max
            }
            result = added
        }
        return negative ? -result : result
    }
}

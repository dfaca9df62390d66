/// The user-agent side `Set-Cookie` parsing algorithm.
///
/// RFC 6265bis section 5.6: deliberately liberal, so that it interoperates with
/// servers that do not follow the section 4.1 grammar. It never throws; input that
/// the algorithm says to ignore yields `nil`.
public struct SetCookieParser: Sendable {
    /// The longest attribute value, in octets, that is not ignored (section 5.6, attribute step 6).
    public static let maximumAttributeValueLength = 1024

    /// The longest cookie-name plus cookie-value, in octets, that is accepted (section 5.6 step 5).
    public static let maximumNameValueLength = 4096

    /// Parses one `Set-Cookie` field value (without the `Set-Cookie:` prefix).
    ///
    /// Follows RFC 6265bis section 5.6:
    /// 1. Any CTL other than HTAB (%x00-08 / %x0A-1F / %x7F) anywhere → `nil`.
    /// 2. The name-value-pair is everything before the first `;`; without `=` the
    ///    name is empty and the whole pair is the value (a nameless cookie).
    /// 3. Name and value are stripped of surrounding SP/HTAB; both empty (section 5.7
    ///    step 2) or together longer than 4096 octets → `nil`.
    /// 4. Each `;`-separated attribute is split at its first `=`, trimmed, ignored if its
    ///    value exceeds 1024 octets, and matched case-insensitively against
    ///    `Expires`, `Max-Age`, `Domain`, `Path`, `Secure`, `HttpOnly`, `SameSite` and
    ///    `Partitioned`; later occurrences override earlier ones, unknown names are ignored.
    ///
    /// Commas are not separators: a folded `a=b, c=d` is one cookie named `a`.
    public static func parse(_ header: String) -> ParsedSetCookie? {
        let bytes = Array(header.utf8)
        if bytes.contains(where: CookieSyntax.isForbiddenControl) {
            return nil
        }

        let pairEnd = bytes.firstIndex(of: CookieSyntax.semicolon) ?? bytes.endIndex
        let pair = bytes[..<pairEnd]
        let rawName: ArraySlice<UInt8>
        let rawValue: ArraySlice<UInt8>
        if let equals = pair.firstIndex(of: CookieSyntax.equals) {
            rawName = pair[..<equals]
            rawValue = pair[(equals + 1)...]
        } else {
            rawName = []
            rawValue = pair
        }
        let name = CookieSyntax.trimWhitespace(rawName)
        let value = CookieSyntax.trimWhitespace(rawValue)
        if name.isEmpty && value.isEmpty {
            return nil
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

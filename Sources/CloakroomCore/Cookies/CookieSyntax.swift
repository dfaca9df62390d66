/// Octet classes and small byte-level helpers shared by the cookie parsers and serialiser.
///
/// Everything here works on UTF-8 octets, because RFC 6265bis defines cookies in
/// terms of octets: splitting on the ASCII octets `;`, `=` and whitespace can never
/// cut a multi-byte UTF-8 sequence, so slices decode back to valid strings.
enum CookieSyntax {
    /// Byte values used by the algorithms.
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let dquote: UInt8 = 0x22
    static let slash: UInt8 = 0x2F
    static let dot: UInt8 = 0x2E
    static let space: UInt8 = 0x20
    static let htab: UInt8 = 0x09

    /// WSP (RFC 5234): SP or HTAB.
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == htab
    }

    /// CTL (RFC 5234): %x00-1F / %x7F.
    static func isControl(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F
    }

    /// The control characters at which `SetCookieParser` truncates a set-cookie-string
    /// before parsing it: NUL, LF and CR (%x00 / %x0A / %x0D).
    static func isTruncatingControl(_ byte: UInt8) -> Bool {
        byte == 0x00 || byte == 0x0A || byte == 0x0D
    }

    /// The control characters that make a user agent drop a whole set-cookie-string
    /// (RFC 6265bis section 5.6 step 1): %x00-08 / %x0A-1F / %x7F, i.e. CTLs except HTAB.
    /// `SetCookieParser` truncates at NUL, LF and CR first, so only the others drop a header.
    static func isForbiddenControl(_ byte: UInt8) -> Bool {
        isControl(byte) && byte != htab
    }

    /// tchar (RFC 9110 section 5.6.2): the octets allowed in a token.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A:
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"),
            UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Whether `string` is a non-empty token.
    static func isToken(_ string: String) -> Bool {
        !string.isEmpty && string.utf8.allSatisfy(isTokenCharacter)
    }

    /// cookie-octet (RFC 6265bis section 4.1.1): %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
    static func isCookieOctet(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21, 0x23...0x2B, 0x2D...0x3A, 0x3C...0x5B, 0x5D...0x7E:
            return true
        default:
            return false
        }
    }

    /// Whether `value` matches cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ).
    static func isCookieValue(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        if bytes.allSatisfy(isCookieOctet) {
            return true
        }
        guard bytes.count >= 2, bytes.first == dquote, bytes.last == dquote else {
            return false
        }
        return bytes.dropFirst().dropLast().allSatisfy(isCookieOctet)
    }

    /// Removes leading and trailing WSP octets.
    static func trimWhitespace(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isWhitespace(first) {
            slice = slice.dropFirst()
        }
        while let last = slice.last, isWhitespace(last) {
            slice = slice.dropLast()
        }
        return slice
    }

    /// Decodes octets that came from a Swift string and were split on ASCII octets only.
    static func string<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Lower-cases ASCII letters only (i;ascii-casemap, RFC 4790), leaving other octets alone.
    static func asciiLowercased(_ string: String) -> String {
        self.string(string.utf8.map(lowercase))
    }

    /// Whether `string` starts with `prefix` under ASCII case-insensitive comparison.
    static func hasPrefixIgnoringASCIICase(_ string: String, _ prefix: String) -> Bool {
        let bytes = Array(string.utf8)
        let prefixBytes = Array(prefix.utf8)
        guard bytes.count >= prefixBytes.count else {
            return false
        }
        for (byte, expected) in zip(bytes, prefixBytes) where lowercase(byte) != lowercase(expected) {
            return false
        }
        return true
    }

    /// ASCII lower-casing of a single octet.
    static func lowercase(_ byte: UInt8) -> UInt8 {
        (0x41...0x5A).contains(byte) ? byte + 0x20 : byte
    }

    /// Whether the octets case-insensitively (ASCII) equal `other`.
    static func equalsIgnoringASCIICase(_ bytes: ArraySlice<UInt8>, _ other: String) -> Bool {
        bytes.count == other.utf8.count
            && zip(bytes, other.utf8).allSatisfy { lowercase($0) == lowercase($1) }
    }

    /// The `__Secure-` cookie name prefix (RFC 6265bis section 4.1.3.1), matched case-insensitively.
    static let securePrefix = "__Secure-"

    /// The `__Host-` cookie name prefix (RFC 6265bis section 4.1.3.2), matched case-insensitively.
    static let hostPrefix = "__Host-"
}

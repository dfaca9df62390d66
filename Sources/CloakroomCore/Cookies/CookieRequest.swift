import Foundation

/// What the cookie algorithms need to know about a request URI: canonical host,
/// normalised path, and whether the origin is secure.
struct CookieRequest: Sendable {
    /// Lower-case host name, or IP address without brackets.
    let host: String
    /// The percent-encoded path of the URI with its percent-encoded unreserved characters
    /// decoded (`normalisedPath(_:)`); `/` when the URI has none.
    ///
    /// Both path-matching and the default-path use this form, so a cookie set without a
    /// `Path` from `/f%6Fo/bar` gets the default-path `/foo`.
    let path: String
    /// Whether `Secure` cookies may be set by and sent to this URI.
    let isSecure: Bool

    /// Extracts the request fields from `url`; `nil` when it has no host.
    init?(url: URL, treatsLocalhostAsSecure: Bool) {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: true),
            var host = components.host, !host.isEmpty
        else {
            return nil
        }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        host = CookieSyntax.asciiLowercased(host)
        self.host = host
        let path = Self.normalisedPath(components.percentEncodedPath)
        self.path = path.isEmpty ? "/" : path
        let scheme = CookieSyntax.asciiLowercased(components.scheme ?? "")
        self.isSecure =
            scheme == "https" || scheme == "wss"
            || (treatsLocalhostAsSecure && Self.isLocalhost(host))
    }

    /// Section 5.1.3: whether this request's host domain-matches `domain`.
    func domainMatches(_ domain: String) -> Bool {
        Self.domainMatches(host, domain)
    }

    /// Section 5.1.3 domain-match: identical, or `domain` is a dot-separated suffix of a host name.
    static func domainMatches(_ string: String, _ domain: String) -> Bool {
        let stringBytes = Array(string.utf8)
        let domainBytes = Array(domain.utf8)
        if stringBytes == domainBytes {
            return true
        }
        guard stringBytes.count > domainBytes.count, !isIPAddress(string) else {
            return false
        }
        let boundary = stringBytes.count - domainBytes.count
        return stringBytes[boundary - 1] == CookieSyntax.dot && Array(stringBytes[boundary...]) == domainBytes
    }

    /// Whether `host` is an IP address: an IPv6 literal, or a name whose last label is
    /// numeric (the WHATWG URL "ends in a number" rule for IPv4).
    static func isIPAddress(_ host: String) -> Bool {
        if host.utf8.contains(UInt8(ascii: ":")) {
            return true
        }
        var labels = Array(host.utf8).split(separator: CookieSyntax.dot, omittingEmptySubsequences: false)
        if labels.count > 1, labels.last?.isEmpty == true {
            labels.removeLast()  // A single trailing dot is allowed ("ends in a number" checker).
        }
        guard let last = labels.last else {
            return false
        }
        guard !last.isEmpty else {
            return false
        }
        if last.allSatisfy({ (0x30...0x39).contains($0) }) {
            return true
        }
        let lowered = last.map(CookieSyntax.lowercase)
        return lowered.starts(with: Array("0x".utf8))
            && lowered.dropFirst(2).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// `localhost`, `*.localhost`, 127.0.0.0/8 and `::1`, which browsers treat as secure contexts.
    static func isLocalhost(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" {
            return true
        }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy { octet in UInt8(octet) != nil }
    }

    /// Section 5.1.4 default-path: the path up to, not including, its last `/`, or `/`.
    static func defaultPath(of uriPath: String) -> String {
        let bytes = Array(uriPath.utf8)
        guard bytes.first == CookieSyntax.slash,
            let lastSlash = bytes.lastIndex(of: CookieSyntax.slash), lastSlash > 0
        else {
            return "/"
        }
        return CookieSyntax.string(bytes[..<lastSlash])
    }

    /// RFC 3986 section 6.2.2.2 percent-encoding normalisation, limited to decoding:
    /// every `%XX` (either hex case) that encodes an unreserved character — ALPHA / DIGIT /
    /// `-` / `.` / `_` / `~` — is replaced by that character. Every other escape (such as
    /// `%2F` or `%25`) and any malformed `%` sequence is left exactly as it is.
    static func normalisedPath(_ path: String) -> String {
        let bytes = Array(path.utf8)
        guard bytes.contains(UInt8(ascii: "%")) else {
            return path
        }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]),
                isUnreserved(high << 4 | low)
            {
                result.append(high << 4 | low)
                index += 3
            } else {
                result.append(bytes[index])
                index += 1
            }
        }
        return CookieSyntax.string(result)
    }

    /// unreserved (RFC 3986 section 2.3): ALPHA / DIGIT / "-" / "." / "_" / "~".
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A,
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// The value of one HEXDIG, either case; `nil` for any other octet.
    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39:
            return byte - 0x30
        case 0x41...0x46:
            return byte - 0x41 + 10
        case 0x61...0x66:
            return byte - 0x61 + 10
        default:
            return nil
        }
    }

    /// Section 5.1.4 path-match, compared octet by octet (the request path already normalised).
    static func pathMatches(_ requestPath: String, cookiePath: String) -> Bool {
        let request = Array(requestPath.utf8)
        let cookie = Array(cookiePath.utf8)
        if request == cookie {
            return true
        }
        guard request.count > cookie.count, request.starts(with: cookie) else {
            return false
        }
        return cookie.last == CookieSyntax.slash || request[cookie.count] == CookieSyntax.slash
    }
}

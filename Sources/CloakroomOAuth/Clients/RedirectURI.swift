import Foundation

/// Redirect URIs as OAuth 2.1 and RFC 9700 §4.1 want them: registered in full, compared exactly.
///
/// - Registration takes an absolute URI without a fragment or user information: `https`; `http`
///   only on a loopback host (`127.0.0.1`, `[::1]`, `localhost`); or a native app's private-use
///   scheme in reverse-domain form (`com.example.app:/callback`, RFC 8252 §7.1). No wildcards.
/// - Matching is simple string comparison, so a prefix, a case change, another path or another
///   port does not match. The one exception is RFC 8252 §7.3: for a registered `http` URI on a
///   loopback IP literal (`127.0.0.1` or `[::1]`), the port may differ, since a native app gets
///   one from the system at run time; everything else still matches exactly.
public enum RedirectURI {
    /// Why a redirect URI cannot be registered.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Checks that `uri` may be registered.
    public static func validate(_ uri: String) throws(Problem) {
        guard uri.utf8.count <= 2000 else { throw Problem("a redirect URI is at most 2,000 characters") }
        guard !uri.contains(where: { $0.isWhitespace || $0 == "*" }) else {
            throw Problem("\(uri): a redirect URI holds no spaces or wildcards")
        }
        guard let parts = URLComponents(string: uri), let scheme = parts.scheme else {
            throw Problem("\(uri): not an absolute URI")
        }
        guard parts.fragment == nil, !uri.contains("#") else { throw Problem("\(uri): a redirect URI has no fragment (RFC 6749 §3.1.2)") }
        guard parts.user == nil, parts.password == nil else { throw Problem("\(uri): a redirect URI has no user information") }
        switch scheme {
        case "https":
            guard let host = parts.host, !host.isEmpty else { throw Problem("\(uri): no host") }
        case "http":
            guard let host = parts.host, isLoopback(host) || host == "localhost" else {
                throw Problem("\(uri): http is allowed only on loopback (127.0.0.1, [::1], localhost); use https")
            }
        default:
            // Private-use schemes must be reverse domain names (RFC 8252 §7.1): a dot in them.
            guard scheme.contains("."), scheme == scheme.lowercased() else {
                throw Problem("\(uri): use https, http on loopback, or a reverse-domain private-use scheme (com.example.app:/callback)")
            }
        }
    }

    /// Whether `presented` matches the registered `uri` (see the type's rules).
    public static func matches(_ presented: String, registered uri: String) -> Bool {
        if presented == uri { return true }
        guard let registered = URLComponents(string: uri), registered.scheme == "http",
            let host = registered.host, isLoopback(host),
            let candidate = URLComponents(string: presented)
        else { return false }
        // Everything but the port, compared as written.
        return candidate.scheme == "http" && candidate.percentEncodedHost == registered.percentEncodedHost
            && candidate.percentEncodedPath == registered.percentEncodedPath
            && candidate.percentEncodedQuery == registered.percentEncodedQuery
            && candidate.percentEncodedUser == nil && candidate.percentEncodedPassword == nil
            && candidate.fragment == nil && !presented.contains("#")
            && Self.withoutPort(presented) == Self.withoutPort(uri)
    }

    /// The registered URI among `registered` that `presented` matches, if any.
    public static func match(_ presented: String, in registered: [String]) -> String? {
        registered.first { matches(presented, registered: $0) }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "[::1]" || host == "::1"
    }

    /// `uri` with `:port` after the authority's host removed (for the loopback comparison, which
    /// must otherwise be exact, byte for byte).
    static func withoutPort(_ uri: String) -> String {
        guard let schemeEnd = uri.range(of: "://") else { return uri }
        let authorityStart = schemeEnd.upperBound
        let rest = uri[authorityStart...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var host = authority
        if let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") {
            host = authority[..<colon]
        }
        return String(uri[..<authorityStart]) + host + rest[authorityEnd...]
    }
}

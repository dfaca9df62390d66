public import Foundation

/// A client-side cookie store: the RFC 6265bis storage model (section 5.7) and
/// retrieval algorithm (section 5.8.3).
///
/// Feed it every `Set-Cookie` field of every response with `receive(setCookie:from:now:)`
/// and ask it for the `Cookie` header of each request with `cookieHeader(for:now:)`.
/// The jar is a value type with no clock of its own: every call takes `now`, so tests
/// are deterministic.
///
/// What it implements:
/// - host-only vs. domain cookies, domain matching (no suffix match for IP addresses),
///   the default-path and path matching (section 5.1), the latter on a request path whose
///   percent-encoded unreserved characters are decoded (RFC 3986 section 6.2.2.2);
/// - expiry from `Max-Age` (which wins over `Expires`), both capped at 400 days
///   (`maximumCookieAge`); `Max-Age` ≤ 0 or a past `Expires` deletes a stored cookie;
/// - replacement of the cookie with the same name, domain, host-only flag and path,
///   keeping its creation time;
/// - `Secure` cookies only from and to secure origins (https, wss and — unless
///   disabled — `localhost`), and no insecure overlay of an existing secure cookie
///   (section 5.7 step 16);
/// - `SameSite=None` and `Partitioned` require `Secure`; `__Secure-` and `__Host-`
///   name prefixes (case-insensitive) are enforced;
/// - ordering: longer paths first, then earlier creation.
///
/// Nameless cookies (no `=` in the name-value-pair, or an empty name) are ignored, as in
/// RFC 6265 section 5.2; see `SetCookieParser` for this and its other RFC 6265 choices.
///
/// What it does not: there is no public suffix list — a `Domain` attribute without a
/// dot (such as `org`) is treated as a public suffix, which makes the cookie host-only
/// when it equals the host and is refused otherwise. Every retrieval is modelled as a
/// same-site, top-level HTTP request, so `SameSite` and `HttpOnly` are recorded but
/// never filter. No limits on the number of cookies are applied.
public struct CookieJar: Sendable {
    /// The cap on a cookie's lifetime, 400 days (RFC 6265bis sections 5.6.1 and 5.6.2).
    public static let maximumCookieAge: TimeInterval = 400 * 86_400

    /// Whether `http://localhost` (and `*.localhost`, 127.0.0.0/8, `::1`) counts as a secure
    /// origin for `Secure` cookies, as browsers treat it. Defaults to `true`.
    public var treatsLocalhostAsSecure: Bool

    /// Stored cookies in insertion order with a tie-breaker for equal creation times.
    private var entries: [Entry] = []
    private var nextSequence: UInt64 = 0

    private struct Entry: Sendable, Hashable {
        var cookie: StoredCookie
        /// Order of first creation; inherited on replacement like the creation time.
        var sequence: UInt64
    }

    /// Creates an empty jar that treats `localhost` as a secure origin.
    public init() {
        self.treatsLocalhostAsSecure = true
    }

    /// Creates an empty jar.
    ///
    /// - Parameter treatsLocalhostAsSecure: Whether `localhost` counts as a secure origin.
    public init(treatsLocalhostAsSecure: Bool) {
        self.treatsLocalhostAsSecure = treatsLocalhostAsSecure
    }

    /// The number of cookies held, including any that have expired but were not yet removed.
    public var count: Int {
        entries.count
    }

    /// Every cookie held, in insertion order, including any that have expired but were not yet removed.
    public var allCookies: [StoredCookie] {
        entries.map(\.cookie)
    }

    /// Parses one `Set-Cookie` field value received in the response to `url` and stores the cookie.
    ///
    /// RFC 6265bis sections 5.6 and 5.7. Anything the algorithms say to ignore is
    /// silently ignored; a cookie that is already expired deletes its stored
    /// counterpart (same name, domain, host-only flag and path) and is not kept.
    /// Expired cookies are evicted first.
    ///
    /// - Parameters:
    ///   - header: The field value, without `Set-Cookie:`.
    ///   - url: The request URI of the response; it must have a host.
    ///   - now: The current time, used for creation time and expiry.
    public mutating func receive(setCookie header: String, from url: URL, now: Date) {
        guard let parsed = SetCookieParser.parse(header) else {
            return
        }
        receive(parsed, from: url, now: now)
    }

    /// Stores an already parsed cookie received in the response to `url`.
    ///
    /// The RFC 6265bis section 5.7 storage model; see `receive(setCookie:from:now:)`.
    public mutating func receive(_ parsed: ParsedSetCookie, from url: URL, now: Date) {
        removeExpired(now: now)
        guard let request = CookieRequest(url: url, treatsLocalhostAsSecure: treatsLocalhostAsSecure),
            let cookie = makeCookie(from: parsed, request: request, now: now)
        else {
            return
        }

        var sequence = nextSequence
        var stored = cookie
        if let index = entries.firstIndex(where: {
            $0.cookie.name == cookie.name && $0.cookie.domain == cookie.domain
                && $0.cookie.hostOnly == cookie.hostOnly && $0.cookie.path == cookie.path
        }) {
            stored.creation = entries[index].cookie.creation
            sequence = entries[index].sequence
            entries.remove(at: index)
        } else {
            nextSequence += 1
        }
        if !stored.isExpired(at: now) {
            entries.append(Entry(cookie: stored, sequence: sequence))
        }
    }

    /// The cookies to send with a request to `url`, in `Cookie` header order.
    ///
    /// RFC 6265bis section 5.8.3: unexpired cookies whose domain matches the host
    /// (exactly, for host-only cookies), whose path path-matches the URL's path and,
    /// when `Secure`, only for a secure origin; sorted by longer path first, then
    /// earlier creation.
    ///
    /// The URL's path is first normalised by decoding percent-encoded unreserved
    /// characters (RFC 3986 section 6.2.2.2), so `/f%6Fo/bar` path-matches a cookie path
    /// `/foo/bar`; other escapes, and the cookie's own path, are compared as they are.
    public func cookies(for url: URL, now: Date) -> [StoredCookie] {
        guard let request = CookieRequest(url: url, treatsLocalhostAsSecure: treatsLocalhostAsSecure) else {
            return []
        }
        return entries.filter { entry in
            let cookie = entry.cookie
            if cookie.isExpired(at: now) {
                return false
            }
            if cookie.hostOnly ? cookie.domain != request.host : !request.domainMatches(cookie.domain) {
                return false
            }
            if !CookieRequest.pathMatches(request.path, cookiePath: cookie.path) {
                return false
            }
            return !cookie.secure || request.isSecure
        }
        .sorted { lhs, rhs in
            let lhsLength = lhs.cookie.path.utf8.count
            let rhsLength = rhs.cookie.path.utf8.count
            if lhsLength != rhsLength {
                return lhsLength > rhsLength
            }
            if lhs.cookie.creation != rhs.cookie.creation {
                return lhs.cookie.creation < rhs.cookie.creation
            }
            return lhs.sequence < rhs.sequence
        }
        .map(\.cookie)
    }

    /// The `Cookie` header value for a request to `url`, such as `"a=b; c=d"`, or `nil` if no cookie applies.
    ///
    /// RFC 6265bis section 5.8.3 step 4: `name=value` pairs joined by `"; "`.
    public func cookieHeader(for url: URL, now: Date) -> String? {
        let cookies = cookies(for: url, now: now)
        guard !cookies.isEmpty else {
            return nil
        }
        return cookies.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
    }

    /// Removes every cookie whose expiry time is at or before `now`.
    public mutating func removeExpired(now: Date) {
        entries.removeAll { $0.cookie.isExpired(at: now) }
    }

    /// Removes every cookie, as when the user clears their cookies.
    public mutating func removeAll() {
        entries.removeAll()
    }

    /// Removes every session cookie (one without an expiry time), as at the end of a session.
    public mutating func removeSessionCookies() {
        entries.removeAll { !$0.cookie.isPersistent }
    }

    /// Section 5.7 steps 2–21: builds the cookie to store, or `nil` if it must be ignored.
    private func makeCookie(from parsed: ParsedSetCookie, request: CookieRequest, now: Date) -> StoredCookie? {
        // Steps 2-4 (empty, CTLs, size) also hold for cookies that did not come through the parser.
        // A nameless cookie is ignored (RFC 6265 section 5.2 step 5), as SetCookieParser does.
        let name = parsed.name
        let value = parsed.value
        if name.isEmpty {
            return nil
        }
        if name.utf8.contains(where: CookieSyntax.isForbiddenControl)
            || value.utf8.contains(where: CookieSyntax.isForbiddenControl)
        {
            return nil
        }
        if name.utf8.count + value.utf8.count > SetCookieParser.maximumNameValueLength {
            return nil
        }

        // Step 6: expiry; Max-Age wins over Expires, both capped at 400 days.
        let latest = now.addingTimeInterval(Self.maximumCookieAge)
        let expiry: Date?
        if let maxAge = parsed.maxAge {
            expiry = maxAge <= 0 ? Date.distantPast : min(latest, now.addingTimeInterval(TimeInterval(maxAge)))
        } else if let expires = parsed.expires {
            expiry = min(latest, expires)
        } else {
            expiry = nil
        }

        // Steps 7-10: domain and host-only flag.
        var domainAttribute = parsed.domain ?? ""
        if !domainAttribute.utf8.allSatisfy({ $0 < 0x80 }) {
            return nil
        }
        if !domainAttribute.isEmpty && !domainAttribute.utf8.contains(CookieSyntax.dot) {
            // No public suffix list: treat a dot-less domain (a TLD such as "org") as a public suffix.
            guard domainAttribute == request.host else {
                return nil
            }
            domainAttribute = ""
        }
        let hostOnly: Bool
        let domain: String
        if domainAttribute.isEmpty {
            hostOnly = true
            domain = request.host
        } else {
            guard request.domainMatches(domainAttribute) else {
                return nil
            }
            hostOnly = false
            domain = domainAttribute
        }

        // Step 11: path (section 5.6.4 substitutes the default-path for an invalid Path).
        let path: String
        if let attribute = parsed.path, attribute.utf8.first == CookieSyntax.slash {
            path = attribute
        } else {
            path = CookieRequest.defaultPath(of: request.path)
        }

        // Steps 12-13: Secure only from a secure origin.
        if parsed.secure && !request.isSecure {
            return nil
        }

        // Step 16: an insecure origin may not overlay an existing secure cookie.
        if !parsed.secure && !request.isSecure {
            let overlays = entries.contains { entry in
                let existing = entry.cookie
                return existing.secure && existing.name == name
                    && (CookieRequest.domainMatches(existing.domain, domain)
                        || CookieRequest.domainMatches(domain, existing.domain))
                    && CookieRequest.pathMatches(path, cookiePath: existing.path)
            }
            if overlays {
                return nil
            }
        }

        // Step 19 and CHIPS: SameSite=None and Partitioned need Secure.
        if parsed.sameSite == SameSite.none && !parsed.secure {
            return nil
        }
        if parsed.partitioned && !parsed.secure {
            return nil
        }

        // Steps 20-21: cookie prefixes.
        if CookieSyntax.hasPrefixIgnoringASCIICase(name, CookieSyntax.securePrefix) && !parsed.secure {
            return nil
        }
        if CookieSyntax.hasPrefixIgnoringASCIICase(name, CookieSyntax.hostPrefix) {
            if !parsed.secure || !hostOnly || parsed.path == nil || path != "/" {
                return nil
            }
        }

        return StoredCookie(
            name: name,
            value: value,
            domain: domain,
            path: path,
            hostOnly: hostOnly,
            secure: parsed.secure,
            httpOnly: parsed.httpOnly,
            sameSite: parsed.sameSite,
            partitioned: parsed.partitioned,
            expiry: expiry,
            creation: now,
            lastAccess: now
        )
    }
}

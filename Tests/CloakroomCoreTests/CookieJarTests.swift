import CloakroomCore
import Foundation
import Testing

/// `CookieJar` storage and retrieval rules beyond the http-state suite.
@Suite("Cookie jar")
struct CookieJarTests {
    static let now = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    private func url(_ string: String) throws -> URL {
        try #require(URL(string: string))
    }

    private func names(_ jar: CookieJar, _ string: String, at date: Date = now) throws -> [String] {
        jar.cookies(for: try url(string), now: date).map(\.name)
    }

    // MARK: - Stored fields

    @Test func storedFieldsOfAHostOnlySessionCookie() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "sid=abc; HttpOnly; SameSite=Lax", from: try url("http://Example.COM/a/b/c?q"), now: Self.now)
        let cookie = try #require(jar.allCookies.first)
        #expect(cookie.name == "sid")
        #expect(cookie.value == "abc")
        #expect(cookie.domain == "example.com")
        #expect(cookie.path == "/a/b")
        #expect(cookie.hostOnly)
        #expect(!cookie.secure)
        #expect(cookie.httpOnly)
        #expect(cookie.sameSite == .lax)
        #expect(cookie.expiry == nil)
        #expect(!cookie.isPersistent)
        #expect(cookie.creation == Self.now)
        #expect(cookie.lastAccess == Self.now)
    }

    @Test func defaultPath() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1", from: try url("http://example.com"), now: Self.now)
        jar.receive(setCookie: "b=1", from: try url("http://example.com/"), now: Self.now)
        jar.receive(setCookie: "c=1", from: try url("http://example.com/dir/"), now: Self.now)
        jar.receive(setCookie: "d=1; Path=relative", from: try url("http://example.com/x/y"), now: Self.now)
        #expect(jar.allCookies.map(\.path) == ["/", "/", "/dir", "/x"])
    }

    @Test func domainCookiesReachSubdomainsOnly() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "d=1; Domain=Example.com", from: try url("http://www.example.com/"), now: Self.now)
        jar.receive(setCookie: "h=1", from: try url("http://www.example.com/"), now: Self.now)
        #expect(try names(jar, "http://www.example.com/") == ["d", "h"])
        #expect(try names(jar, "http://a.b.example.com/") == ["d"])
        #expect(try names(jar, "http://example.com/") == ["d"])
        #expect(try names(jar, "http://notexample.com/").isEmpty)
        #expect(try names(jar, "http://sub.www.example.com/") == ["d"])
    }

    /// RFC 6265 section 5.2.3: `Domain=` is ignored entirely, so an earlier Domain attribute applies.
    @Test func emptyDomainAttributeKeepsAnEarlierDomain() throws {
        var jar = CookieJar()
        let from = try url("http://home.example.org:8888/cookie-parser")
        jar.receive(setCookie: "foo=bar; domain=foo.example.org; domain=", from: from, now: Self.now)
        #expect(jar.count == 0)
        jar.receive(setCookie: "d=1; Domain=example.org; Domain=", from: from, now: Self.now)
        jar.receive(setCookie: "h=1; Domain=", from: from, now: Self.now)
        jar.receive(setCookie: "dot=1; Domain=example.org; Domain=.", from: from, now: Self.now)
        #expect(jar.allCookies.map(\.hostOnly) == [false, true, true])
        #expect(jar.allCookies.first?.domain == "example.org")
        #expect(try names(jar, "http://home.example.org/") == ["d", "h", "dot"])
        #expect(try names(jar, "http://sibling.example.org/") == ["d"])
    }

    @Test func foreignOrPublicSuffixDomainsAreRefused() throws {
        var jar = CookieJar()
        let from = try url("http://www.example.com/")
        for header in [
            "a=1; Domain=other.com", "a=1; Domain=com", "a=1; Domain=.com", "a=1; Domain=sub.www.example.com",
            "a=1; Domain=exämple.com", "a=1; Domain=ample.com",
        ] {
            jar.receive(setCookie: header, from: from, now: Self.now)
        }
        #expect(jar.count == 0)
    }

    @Test func dotlessDomainEqualToTheHostMakesAHostOnlyCookie() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1; Domain=LOCALHOST", from: try url("http://localhost:8080/"), now: Self.now)
        let cookie = try #require(jar.allCookies.first)
        #expect(cookie.hostOnly)
        #expect(cookie.domain == "localhost")
        #expect(try names(jar, "http://sub.localhost/").isEmpty)
    }

    @Test func ipAddressesMatchOnlyExactly() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1; Domain=0.0.1", from: try url("http://127.0.0.1/"), now: Self.now)
        #expect(jar.count == 0)
        jar.receive(setCookie: "b=1; Domain=127.0.0.1", from: try url("http://127.0.0.1/"), now: Self.now)
        jar.receive(setCookie: "c=1", from: try url("http://[::1]:8080/"), now: Self.now)
        #expect(try names(jar, "http://127.0.0.1:9000/") == ["b"])
        #expect(try names(jar, "http://[::1]/") == ["c"])
        #expect(jar.allCookies.last?.domain == "::1")
    }

    @Test func urlWithoutHostIsIgnored() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1", from: try url("file:///tmp/x"), now: Self.now)
        jar.receive(setCookie: "a=1", from: try url("mailto:someone"), now: Self.now)
        #expect(jar.count == 0)
        #expect(jar.cookieHeader(for: try url("file:///tmp/x"), now: Self.now) == nil)
    }

    // MARK: - Paths

    @Test func pathMatching() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1; Path=/docs", from: try url("http://example.com/"), now: Self.now)
        #expect(try names(jar, "http://example.com/docs") == ["a"])
        #expect(try names(jar, "http://example.com/docs/") == ["a"])
        #expect(try names(jar, "http://example.com/docs/web") == ["a"])
        #expect(try names(jar, "http://example.com/docsweb").isEmpty)
        #expect(try names(jar, "http://example.com/Docs").isEmpty)
        #expect(try names(jar, "http://example.com/").isEmpty)
        #expect(try names(jar, "http://example.com").isEmpty)
    }

    /// RFC 3986 section 6.2.2.2: percent-encoded unreserved characters in the request path
    /// are decoded before path-matching; other escapes are not.
    @Test func requestPathPercentEncodedUnreservedCharactersAreDecoded() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        jar.receive(setCookie: "a=1; Path=/foo/bar", from: from, now: Self.now)
        #expect(try names(jar, "http://example.com/f%6Fo/bar") == ["a"])
        #expect(try names(jar, "http://example.com/f%6fo/bar/baz") == ["a"])
        #expect(try names(jar, "http://example.com/%66%6F%6F/%62%61%72") == ["a"])
        // ALPHA keeps its case: %46 is "F".
        #expect(try names(jar, "http://example.com/%46oo/bar").isEmpty)
        // "/" is reserved: %2F is not decoded, so this is one segment "foo%2Fbar".
        #expect(try names(jar, "http://example.com/foo%2Fbar").isEmpty)
        // No double decoding: %25 stays "%25", so "/foo%252Fbar" is not "/foo%2Fbar" nor "/foo/bar".
        #expect(try names(jar, "http://example.com/foo%252Fbar").isEmpty)

        jar.receive(setCookie: "t=1; Path=/~user-1._x", from: from, now: Self.now)
        #expect(try names(jar, "http://example.com/%7Euser%2D1%2E%5Fx/page") == ["t"])

        jar.receive(setCookie: "s=1; Path=/a%2Fb", from: from, now: Self.now)
        #expect(try names(jar, "http://example.com/a%2Fb") == ["s"])
        #expect(try names(jar, "http://example.com/a/b").isEmpty)
    }

    @Test func cookiePathIsNotDecoded() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1; Path=/f%6Fo", from: try url("http://example.com/"), now: Self.now)
        #expect(jar.allCookies.first?.path == "/f%6Fo")
        #expect(try names(jar, "http://example.com/foo").isEmpty)
    }

    @Test func defaultPathComesFromTheNormalisedRequestPath() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1", from: try url("http://example.com/f%6Fo/b%2Fr"), now: Self.now)
        #expect(jar.allCookies.first?.path == "/foo")
        #expect(try names(jar, "http://example.com/f%6Fo/x") == ["a"])
        #expect(try names(jar, "http://example.com/foo") == ["a"])
    }

    // MARK: - Expiry

    @Test func maxAgeWinsOverExpires() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        jar.receive(setCookie: "a=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT", from: from, now: Self.now)
        jar.receive(setCookie: "b=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60", from: from, now: Self.now)
        jar.receive(setCookie: "c=1; Expires=Fri, 01 Jan 2027 00:00:00 GMT; Max-Age=0", from: from, now: Self.now)
        #expect(jar.allCookies.map(\.name) == ["a", "b"])
        #expect(jar.allCookies.allSatisfy { $0.expiry == Self.now.addingTimeInterval(60) })
    }

    @Test func expiresSetsExpiry() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1; Expires=Sun, 01 Feb 2026 00:00:00 GMT", from: try url("http://example.com/"), now: Self.now)
        let cookie = try #require(jar.allCookies.first)
        #expect(cookie.isPersistent)
        #expect(cookie.expiry == Self.now.addingTimeInterval(31 * 86_400))
    }

    @Test func lifetimeIsCappedAt400Days() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        jar.receive(setCookie: "a=1; Max-Age=999999999999", from: from, now: Self.now)
        jar.receive(setCookie: "b=1; Expires=Fri, 31 Dec 9999 23:59:59 GMT", from: from, now: Self.now)
        let cap = Self.now.addingTimeInterval(400 * 86_400)
        #expect(CookieJar.maximumCookieAge == 400 * 86_400)
        #expect(jar.allCookies.map(\.expiry) == [cap, cap])
        #expect(try names(jar, "http://example.com/", at: cap.addingTimeInterval(-1)) == ["a", "b"])
        #expect(try names(jar, "http://example.com/", at: cap).isEmpty)
    }

    @Test func expiredCookiesAreNotSentAndCanBeRemoved() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        jar.receive(setCookie: "short=1; Max-Age=10", from: from, now: Self.now)
        jar.receive(setCookie: "session=1", from: from, now: Self.now)
        let later = Self.now.addingTimeInterval(10)
        #expect(try names(jar, "http://example.com/", at: later) == ["session"])
        #expect(jar.count == 2)
        jar.removeExpired(now: later)
        #expect(jar.count == 1)
        jar.removeSessionCookies()
        #expect(jar.count == 0)
    }

    @Test(arguments: ["a=; Max-Age=0", "a=gone; Max-Age=-1", "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"])
    func deletion(_ header: String) throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        jar.receive(setCookie: "a=1", from: from, now: Self.now)
        jar.receive(setCookie: "a=2; Path=/other", from: from, now: Self.now)
        jar.receive(setCookie: header, from: from, now: Self.now)
        #expect(jar.allCookies.map(\.path) == ["/other"])
    }

    // MARK: - Replacement and ordering

    @Test func replacementKeepsCreationTime() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        let later = Self.now.addingTimeInterval(30)
        jar.receive(setCookie: "a=1", from: from, now: Self.now)
        jar.receive(setCookie: "b=1", from: from, now: Self.now.addingTimeInterval(10))
        jar.receive(setCookie: "a=2; HttpOnly", from: from, now: later)
        #expect(jar.count == 2)
        let cookie = try #require(jar.allCookies.first { $0.name == "a" })
        #expect(cookie.value == "2")
        #expect(cookie.httpOnly)
        #expect(cookie.creation == Self.now)
        #expect(cookie.lastAccess == later)
        #expect(jar.cookieHeader(for: from, now: later) == "a=2; b=1")
    }

    @Test func hostOnlyAndDomainCookiesAreDistinct() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        jar.receive(setCookie: "a=host", from: from, now: Self.now)
        jar.receive(setCookie: "a=domain; Domain=example.com", from: from, now: Self.now)
        #expect(jar.count == 2)
        #expect(jar.cookieHeader(for: from, now: Self.now) == "a=host; a=domain")
        #expect(jar.cookieHeader(for: try url("http://www.example.com/"), now: Self.now) == "a=domain")
    }

    @Test func orderingIsLongerPathThenEarlierCreation() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        jar.receive(setCookie: "late=1; Path=/a", from: from, now: Self.now.addingTimeInterval(2))
        jar.receive(setCookie: "early=1; Path=/b", from: from, now: Self.now.addingTimeInterval(1))
        jar.receive(setCookie: "root=1", from: from, now: Self.now)
        jar.receive(setCookie: "deep=1; Path=/a/b", from: from, now: Self.now.addingTimeInterval(3))
        let at = Self.now.addingTimeInterval(5)
        #expect(try names(jar, "http://example.com/a/b/c", at: at) == ["deep", "late", "root"])
        // Same path length, creation order wins over insertion order.
        jar.receive(setCookie: "x=1; Path=/", from: from, now: Self.now.addingTimeInterval(-1))
        #expect(try names(jar, "http://example.com/", at: at) == ["x", "root"])
    }

    // MARK: - Secure

    @Test func secureCookiesNeedASecureOrigin() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=1; Secure", from: try url("http://example.com/"), now: Self.now)
        #expect(jar.count == 0)
        jar.receive(setCookie: "a=1; Secure", from: try url("https://example.com/"), now: Self.now)
        jar.receive(setCookie: "b=1", from: try url("https://example.com/"), now: Self.now)
        #expect(try names(jar, "https://example.com/") == ["a", "b"])
        #expect(try names(jar, "wss://example.com/") == ["a", "b"])
        #expect(try names(jar, "http://example.com/") == ["b"])
        #expect(try names(jar, "ws://example.com/") == ["b"])
    }

    @Test func localhostIsSecureByDefault() throws {
        var jar = CookieJar()
        for host in ["localhost", "app.localhost", "127.0.0.1", "127.1.2.3", "[::1]"] {
            jar.receive(setCookie: "__Host-s=1; Secure; Path=/", from: try url("http://\(host):8080/"), now: Self.now)
        }
        #expect(jar.count == 5)
        #expect(try names(jar, "http://localhost/") == ["__Host-s"])

        var strict = CookieJar(treatsLocalhostAsSecure: false)
        #expect(!strict.treatsLocalhostAsSecure)
        strict.receive(setCookie: "a=1; Secure", from: try url("http://localhost:8080/"), now: Self.now)
        #expect(strict.count == 0)
        strict.receive(setCookie: "a=1; Secure", from: try url("https://localhost:8443/"), now: Self.now)
        #expect(try names(strict, "http://localhost/").isEmpty)
        #expect(try names(strict, "https://localhost/") == ["a"])
    }

    @Test func insecureOriginCannotOverlaySecureCookie() throws {
        var jar = CookieJar()
        jar.receive(setCookie: "a=secure; Secure; Path=/login", from: try url("https://example.com/"), now: Self.now)
        let http = try url("http://example.com/")
        jar.receive(setCookie: "a=evil; Path=/login", from: http, now: Self.now)
        jar.receive(setCookie: "a=evil; Path=/login/en", from: http, now: Self.now)
        jar.receive(setCookie: "a=evil; Path=/login; Domain=example.com", from: try url("http://www.example.com/"), now: Self.now)
        #expect(jar.count == 1)
        // A path that does not path-match the secure cookie's path is fine.
        jar.receive(setCookie: "a=plain; Path=/", from: http, now: Self.now)
        #expect(jar.count == 2)
        // So is another name.
        jar.receive(setCookie: "b=plain; Path=/login", from: http, now: Self.now)
        #expect(jar.count == 3)
    }

    // MARK: - SameSite, Partitioned and prefixes

    @Test func sameSiteNoneAndPartitionedRequireSecure() throws {
        var jar = CookieJar()
        let https = try url("https://example.com/")
        jar.receive(setCookie: "a=1; SameSite=None", from: https, now: Self.now)
        jar.receive(setCookie: "b=1; Partitioned", from: https, now: Self.now)
        #expect(jar.count == 0)
        jar.receive(setCookie: "a=1; SameSite=None; Secure", from: https, now: Self.now)
        jar.receive(setCookie: "b=1; Partitioned; Secure", from: https, now: Self.now)
        jar.receive(setCookie: "c=1; SameSite=Strict", from: https, now: Self.now)
        jar.receive(setCookie: "d=1; SameSite=whatever", from: https, now: Self.now)
        #expect(jar.allCookies.map(\.sameSite) == [SameSite.none, nil, .strict, nil])
        #expect(jar.allCookies.map(\.partitioned) == [false, true, false, false])
    }

    @Test(arguments: ["__Secure-", "__secure-", "__SECURE-"])
    func securePrefixOnReceipt(_ prefix: String) throws {
        var jar = CookieJar()
        let https = try url("https://www.example.com/")
        jar.receive(setCookie: "\(prefix)a=1", from: https, now: Self.now)
        #expect(jar.count == 0)
        jar.receive(setCookie: "\(prefix)a=1; Secure; Domain=example.com; Path=/x", from: https, now: Self.now)
        #expect(jar.count == 1)
    }

    @Test(arguments: ["__Host-", "__host-", "__HOST-"])
    func hostPrefixOnReceipt(_ prefix: String) throws {
        var jar = CookieJar()
        let https = try url("https://www.example.com/dir/page")
        for rejected in [
            "\(prefix)a=1; Path=/", "\(prefix)a=1; Secure", "\(prefix)a=1; Secure; Path=/dir",
            "\(prefix)a=1; Secure; Path=/; Domain=www.example.com", "\(prefix)a=1; Secure; Path=/; Domain=example.com",
        ] {
            jar.receive(setCookie: rejected, from: https, now: Self.now)
        }
        #expect(jar.count == 0)
        jar.receive(setCookie: "\(prefix)a=1; Secure; Path=/", from: https, now: Self.now)
        #expect(jar.count == 1)
        // An empty Domain attribute is ignored, so the cookie stays host-only.
        jar.receive(setCookie: "\(prefix)b=1; Secure; Path=/; Domain=", from: https, now: Self.now)
        #expect(jar.count == 2)
    }

    /// RFC 6265 section 5.2 steps 2 and 5: nameless cookies are never stored, so they can
    /// neither impersonate prefixes nor replace a cookie.
    @Test func namelessCookiesAreIgnored() throws {
        var jar = CookieJar()
        let https = try url("https://example.com/")
        for header in ["__Host-a; Secure; Path=/", "=__Secure-a=1; Secure", "plain; Secure", "=x", " =y", "\t=z"] {
            jar.receive(setCookie: header, from: https, now: Self.now)
        }
        jar.receive(ParsedSetCookie(name: "", value: "v"), from: https, now: Self.now)
        #expect(jar.count == 0)
        jar.receive(setCookie: "a=b", from: https, now: Self.now)
        jar.receive(setCookie: "=x", from: https, now: Self.now)
        jar.receive(setCookie: "c=d", from: https, now: Self.now)
        jar.receive(setCookie: "c", from: https, now: Self.now)
        #expect(jar.cookieHeader(for: https, now: Self.now) == "a=b; c=d")
    }

    /// NUL, CR and LF truncate the header; other control characters drop it.
    @Test func controlCharactersInSetCookie() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/dir/page")
        jar.receive(setCookie: "AAA=BB\u{0}ZYX; Path=/", from: from, now: Self.now)
        jar.receive(setCookie: "CCC=DD\rZYX", from: from, now: Self.now)
        jar.receive(setCookie: "EEE=FF\u{1}", from: from, now: Self.now)
        #expect(jar.allCookies.map(\.value) == ["BB", "DD"])
        #expect(jar.allCookies.map(\.path) == ["/dir", "/dir"])
    }

    // MARK: - Cookie header

    @Test func cookieHeader() throws {
        var jar = CookieJar()
        let from = try url("http://example.com/")
        #expect(jar.cookieHeader(for: from, now: Self.now) == nil)
        jar.receive(setCookie: "a=b", from: from, now: Self.now)
        jar.receive(setCookie: "empty=", from: from, now: Self.now)
        jar.receive(setCookie: "nameless", from: from, now: Self.now)
        jar.receive(setCookie: "q=\"x y\"", from: from, now: Self.now)
        let header = try #require(jar.cookieHeader(for: from, now: Self.now))
        #expect(header == "a=b; empty=; q=\"x y\"")
        #expect(CookieHeader.parse(header).map(\.name) == ["a", "empty", "q"])
        jar.removeAll()
        #expect(jar.count == 0)
    }

    @Test func directReceiveOfAParsedCookie() throws {
        var jar = CookieJar()
        let from = try url("https://example.com/app/x")
        jar.receive(ParsedSetCookie(name: "a", value: "1", path: "/app", secure: true), from: from, now: Self.now)
        jar.receive(ParsedSetCookie(name: "", value: ""), from: from, now: Self.now)
        jar.receive(ParsedSetCookie(name: "", value: "nameless"), from: from, now: Self.now)
        jar.receive(ParsedSetCookie(name: "b\n", value: "1"), from: from, now: Self.now)
        jar.receive(ParsedSetCookie(name: "c", value: String(repeating: "v", count: 4096)), from: from, now: Self.now)
        #expect(jar.allCookies.map(\.name) == ["a"])
    }
}

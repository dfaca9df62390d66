import CloakroomCore
import Foundation
import Testing

/// `Cookie.validate()` / `setCookieHeaderValue()` (RFC 6265bis section 4.1) and `CookieDate.format`.
@Suite("Cookie serialisation")
struct CookieSerialisationTests {
    /// A value that must never show up in an error message.
    static let secret = "s3cr3tValue"

    private func error(of cookie: Cookie) -> CookieError? {
        do {
            try cookie.validate()
            return nil
        } catch {
            return error
        }
    }

    private func expectFailure(
        _ cookie: Cookie,
        code: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let thrown = error(of: cookie)
        #expect(thrown?.code == code, sourceLocation: sourceLocation)
        if let thrown {
            #expect(!thrown.message.contains(Self.secret), "message leaks the value", sourceLocation: sourceLocation)
            #expect(!thrown.message.isEmpty, sourceLocation: sourceLocation)
            #expect(thrown.description == "\(thrown.code): \(thrown.message)", sourceLocation: sourceLocation)
        }
        // setCookieHeaderValue() validates too.
        #expect(throws: CookieError.self, sourceLocation: sourceLocation) {
            _ = try cookie.setCookieHeaderValue()
        }
    }

    // MARK: - Serialisation

    @Test func minimalCookie() throws {
        #expect(try Cookie(name: "sid", value: "abc").setCookieHeaderValue() == "sid=abc")
        #expect(try Cookie(name: "sid", value: "").setCookieHeaderValue() == "sid=")
    }

    @Test func allAttributesInOrder() throws {
        let cookie = Cookie(
            name: "sid",
            value: "\"abc\"",
            expires: Date(timeIntervalSince1970: 784_111_777),
            maxAge: 3600,
            domain: "example.com",
            path: "/app",
            secure: true,
            httpOnly: true,
            sameSite: .strict,
            partitioned: true
        )
        #expect(
            try cookie.setCookieHeaderValue()
                == "sid=\"abc\"; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=3600; Domain=example.com; "
                + "Path=/app; Secure; HttpOnly; SameSite=Strict; Partitioned"
        )
    }

    @Test(arguments: [(SameSite.strict, "Strict"), (.lax, "Lax"), (SameSite.none, "None")])
    func sameSiteValues(_ sameSite: SameSite, _ text: String) throws {
        let cookie = Cookie(name: "a", value: "b", secure: true, sameSite: sameSite)
        #expect(try cookie.setCookieHeaderValue() == "a=b; Secure; SameSite=\(text)")
    }

    @Test func serialisedCookieRoundTripsThroughTheParser() throws {
        let cookie = Cookie(
            name: "__Host-sid",
            value: "v1",
            expires: Date(timeIntervalSince1970: 1_800_000_000),
            maxAge: 60,
            path: "/",
            secure: true,
            httpOnly: true,
            sameSite: .lax
        )
        let parsed = try #require(SetCookieParser.parse(try cookie.setCookieHeaderValue()))
        #expect(parsed.name == "__Host-sid")
        #expect(parsed.value == "v1")
        #expect(parsed.expires == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(parsed.maxAge == 60)
        #expect(parsed.domain == nil)
        #expect(parsed.path == "/")
        #expect(parsed.secure && parsed.httpOnly && !parsed.partitioned)
        #expect(parsed.sameSite == .lax)
    }

    // MARK: - Name

    @Test func emptyName() {
        expectFailure(Cookie(name: "", value: Self.secret), code: "empty_name")
    }

    @Test(arguments: [
        "a b", "a\tb", "a\u{1}b", "a\u{7F}", "a=b", "a;b", "a,b", "(a", "a)", "<a", "a>", "a@b", "a:b", "a\\b",
        "a\"b", "a/b", "[a", "a]", "a?b", "{a", "a}", "é", "a\u{0}",
    ])
    func invalidName(_ name: String) {
        expectFailure(Cookie(name: name, value: Self.secret), code: "invalid_name")
    }

    @Test(arguments: ["a", "SID", "0", "!#$%&'*+-.^_`|~", "a.b-c_d", "__Secure", "__Host"])
    func validName(_ name: String) throws {
        #expect(try Cookie(name: name, value: "v").setCookieHeaderValue() == "\(name)=v")
    }

    // MARK: - Value

    @Test(arguments: [
        "a b", "a\"b", "a,b", "a;b", "a\\b", "a\u{1}", "a\u{7F}", "\u{9}", "é", "\"abc", "abc\"", "\"", "\"a\"b\"",
        "\" a\"",
    ])
    func invalidValue(_ value: String) {
        expectFailure(Cookie(name: "a", value: value + Self.secret), code: "invalid_value")
    }

    @Test(arguments: ["", "\"\"", "\"abc\"", "abc", "!#$%&'()*+-./0123456789:<=>?@AZ[]^_`az{|}~"])
    func validValue(_ value: String) throws {
        #expect(try Cookie(name: "a", value: value).setCookieHeaderValue() == "a=\(value)")
    }

    @Test func valueWithEveryCookieOctet() throws {
        let octets = (0x21...0x7E).filter { ![0x22, 0x2C, 0x3B, 0x5C].contains($0) }
        let value = String(decoding: octets.map(UInt8.init), as: UTF8.self)
        #expect(octets.count == 90)
        #expect(throws: Never.self) { try Cookie(name: "a", value: value).validate() }
    }

    // MARK: - Size

    @Test func nameAndValueLengthBoundary() throws {
        let name = "n"
        let atLimit = Cookie(name: name, value: String(repeating: "v", count: 4095))
        #expect(try atLimit.setCookieHeaderValue().utf8.count == 4097)  // "n=" + 4095
        expectFailure(Cookie(name: name, value: String(repeating: "v", count: 4096)), code: "cookie_too_large")

        let quotedAtLimit = Cookie(name: "nn", value: "\"" + String(repeating: "v", count: 4092) + "\"")
        #expect(throws: Never.self) { try quotedAtLimit.validate() }
        let quotedOver = Cookie(name: "nn", value: "\"" + String(repeating: "v", count: 4093) + "\"")
        expectFailure(quotedOver, code: "cookie_too_large")

        let longName = Cookie(name: String(repeating: "n", count: 4096), value: "")
        #expect(throws: Never.self) { try longName.validate() }
        expectFailure(Cookie(name: String(repeating: "n", count: 4097), value: ""), code: "cookie_too_large")
    }

    @Test func tooLargeMessageDoesNotLeakValue() {
        let value = Self.secret + String(repeating: "v", count: 4096)
        expectFailure(Cookie(name: "a", value: value), code: "cookie_too_large")
    }

    // MARK: - Lifetime

    @Test func maxAge() throws {
        #expect(try Cookie(name: "a", value: "b", maxAge: 0).setCookieHeaderValue() == "a=b; Max-Age=0")
        #expect(try Cookie(name: "a", value: "b", maxAge: 34_560_000).setCookieHeaderValue() == "a=b; Max-Age=34560000")
        expectFailure(Cookie(name: "a", value: Self.secret, maxAge: -1), code: "invalid_max_age")
    }

    @Test func expiresRange() throws {
        let earliest = Date(timeIntervalSince1970: -11_644_473_600)  // 1601-01-01T00:00:00Z
        #expect(
            try Cookie(name: "a", value: "b", expires: earliest).setCookieHeaderValue()
                == "a=b; Expires=Mon, 01 Jan 1601 00:00:00 GMT"
        )
        let latest = Date(timeIntervalSince1970: 253_402_300_799)  // 9999-12-31T23:59:59Z
        #expect(
            try Cookie(name: "a", value: "b", expires: latest).setCookieHeaderValue()
                == "a=b; Expires=Fri, 31 Dec 9999 23:59:59 GMT"
        )
        expectFailure(
            Cookie(name: "a", value: Self.secret, expires: earliest.addingTimeInterval(-1)),
            code: "invalid_expires"
        )
        expectFailure(
            Cookie(name: "a", value: Self.secret, expires: latest.addingTimeInterval(1)),
            code: "invalid_expires"
        )
        expectFailure(Cookie(name: "a", value: Self.secret, expires: .distantPast), code: "invalid_expires")
        expectFailure(Cookie(name: "a", value: Self.secret, expires: Date(timeIntervalSince1970: 1e15)), code: "invalid_expires")
    }

    // MARK: - Domain and Path

    @Test func domain() throws {
        #expect(try Cookie(name: "a", value: "b", domain: "example.com").setCookieHeaderValue() == "a=b; Domain=example.com")
        for bad in ["", "exa mple.com", "example.com;", "exa\u{1}mple.com", "exämple.com", "example.com\u{7F}", "\t"] {
            expectFailure(Cookie(name: "a", value: Self.secret, domain: bad), code: "invalid_domain")
        }
        let atLimit = String(repeating: "a", count: 1020) + ".com"
        #expect(throws: Never.self) { try Cookie(name: "a", value: "b", domain: atLimit).validate() }
        expectFailure(Cookie(name: "a", value: Self.secret, domain: "a" + atLimit), code: "domain_too_long")
    }

    @Test func path() throws {
        #expect(try Cookie(name: "a", value: "b", path: "/").setCookieHeaderValue() == "a=b; Path=/")
        #expect(try Cookie(name: "a", value: "b", path: "/a b/c").setCookieHeaderValue() == "a=b; Path=/a b/c")
        for bad in ["/a;b", "/a\u{1}", "/a\u{7F}", "/ä", "/a\tb"] {
            expectFailure(Cookie(name: "a", value: Self.secret, path: bad), code: "invalid_path")
        }
        for relative in ["", "a", "a/b", " /a"] {
            expectFailure(Cookie(name: "a", value: Self.secret, path: relative), code: "relative_path")
        }
        let atLimit = "/" + String(repeating: "p", count: 1023)
        #expect(throws: Never.self) { try Cookie(name: "a", value: "b", path: atLimit).validate() }
        expectFailure(Cookie(name: "a", value: Self.secret, path: atLimit + "p"), code: "path_too_long")
    }

    // MARK: - Security rules

    @Test func sameSiteNoneRequiresSecure() throws {
        expectFailure(Cookie(name: "a", value: Self.secret, sameSite: SameSite.none), code: "samesite_none_requires_secure")
        #expect(throws: Never.self) { try Cookie(name: "a", value: "b", secure: true, sameSite: SameSite.none).validate() }
        #expect(throws: Never.self) { try Cookie(name: "a", value: "b", sameSite: .lax).validate() }
        #expect(throws: Never.self) { try Cookie(name: "a", value: "b", sameSite: .strict).validate() }
    }

    @Test func partitionedRequiresSecure() throws {
        expectFailure(Cookie(name: "a", value: Self.secret, partitioned: true), code: "partitioned_requires_secure")
        #expect(
            try Cookie(name: "a", value: "b", secure: true, partitioned: true).setCookieHeaderValue()
                == "a=b; Secure; Partitioned"
        )
    }

    @Test(arguments: ["__Secure-id", "__secure-id", "__SECURE-id"])
    func securePrefix(_ name: String) throws {
        expectFailure(Cookie(name: name, value: Self.secret), code: "secure_prefix_requires_secure")
        #expect(try Cookie(name: name, value: "b", secure: true).setCookieHeaderValue() == "\(name)=b; Secure")
        #expect(throws: Never.self) {
            try Cookie(name: name, value: "b", domain: "example.com", path: "/x", secure: true).validate()
        }
    }

    @Test(arguments: ["__Host-id", "__host-id", "__HOST-id"])
    func hostPrefix(_ name: String) throws {
        #expect(
            try Cookie(name: name, value: "b", path: "/", secure: true).setCookieHeaderValue()
                == "\(name)=b; Path=/; Secure"
        )
        expectFailure(Cookie(name: name, value: Self.secret, path: "/"), code: "host_prefix_requires_secure")
        expectFailure(Cookie(name: name, value: Self.secret, secure: true), code: "host_prefix_requires_root_path")
        expectFailure(
            Cookie(name: name, value: Self.secret, path: "/app", secure: true),
            code: "host_prefix_requires_root_path"
        )
        expectFailure(
            Cookie(name: name, value: Self.secret, domain: "example.com", path: "/", secure: true),
            code: "host_prefix_forbids_domain"
        )
    }

    @Test func everyRuleHasItsOwnCode() {
        let failing: [Cookie] = [
            Cookie(name: "", value: "v"),
            Cookie(name: "a b", value: "v"),
            Cookie(name: "a", value: "a b"),
            Cookie(name: "a", value: String(repeating: "v", count: 4096)),
            Cookie(name: "a", value: "v", maxAge: -1),
            Cookie(name: "a", value: "v", expires: .distantPast),
            Cookie(name: "a", value: "v", domain: ""),
            Cookie(name: "a", value: "v", domain: String(repeating: "d", count: 1025)),
            Cookie(name: "a", value: "v", path: "/;"),
            Cookie(name: "a", value: "v", path: "x"),
            Cookie(name: "a", value: "v", path: "/" + String(repeating: "p", count: 1024)),
            Cookie(name: "a", value: "v", sameSite: SameSite.none),
            Cookie(name: "a", value: "v", partitioned: true),
            Cookie(name: "__Secure-a", value: "v"),
            Cookie(name: "__Host-a", value: "v", path: "/"),
            Cookie(name: "__Host-a", value: "v", secure: true),
            Cookie(name: "__Host-a", value: "v", domain: "example.com", path: "/", secure: true),
        ]
        let codes = failing.compactMap { error(of: $0)?.code }
        #expect(codes.count == failing.count)
        #expect(Set(codes).count == failing.count)
        #expect(codes.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } })
    }

    @Test func invalidNameIsNotEchoed() {
        let thrown = error(of: Cookie(name: "bad name\u{1}", value: "v"))
        #expect(thrown?.code == "invalid_name")
        #expect(thrown?.message.contains("bad name") == false)
    }

    // MARK: - Deletion cookie

    @Test func expiredCookie() throws {
        let cookie = Cookie.expired(
            name: "sid",
            path: "/app",
            domain: "example.com",
            secure: false,
            httpOnly: true,
            sameSite: .lax
        )
        #expect(cookie.value == "")
        #expect(cookie.maxAge == 0)
        #expect(cookie.expires == Date(timeIntervalSince1970: 0))
        #expect(
            try cookie.setCookieHeaderValue()
                == "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Domain=example.com; Path=/app; "
                + "HttpOnly; SameSite=Lax"
        )
    }

    @Test func expiredCookieObeysPrefixRules() throws {
        let host = Cookie.expired(
            name: "__Host-sid",
            path: "/app",
            domain: "example.com",
            secure: false,
            httpOnly: true,
            sameSite: .strict
        )
        #expect(host.secure && host.path == "/" && host.domain == nil)
        #expect(
            try host.setCookieHeaderValue()
                == "__Host-sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"
        )

        let secure = Cookie.expired(name: "__secure-x", path: "/p", domain: nil, secure: false, httpOnly: false, sameSite: nil)
        #expect(secure.secure && secure.path == "/p")
        #expect(throws: Never.self) { try secure.validate() }

        let none = Cookie.expired(name: "x", path: nil, domain: nil, secure: false, httpOnly: false, sameSite: SameSite.none)
        #expect(none.secure)
        #expect(throws: Never.self) { try none.validate() }

        let partitioned = Cookie.expired(
            name: "x",
            path: "/",
            domain: nil,
            secure: false,
            httpOnly: false,
            sameSite: nil,
            partitioned: true
        )
        #expect(partitioned.secure && partitioned.partitioned)
        #expect(throws: Never.self) { try partitioned.validate() }
    }

    @Test func expiredCookieDeletesFromAJar() throws {
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        let url = try #require(URL(string: "https://example.com/app/page"))
        var jar = CookieJar()
        jar.receive(setCookie: "__Host-sid=abc; Path=/; Secure; HttpOnly", from: url, now: now)
        jar.receive(setCookie: "pref=1; Path=/app", from: url, now: now)
        #expect(jar.count == 2)
        let deleteHost = Cookie.expired(name: "__Host-sid", path: "/", domain: nil, secure: true, httpOnly: true, sameSite: nil)
        let deletePref = Cookie.expired(name: "pref", path: "/app", domain: nil, secure: false, httpOnly: false, sameSite: nil)
        jar.receive(setCookie: try deleteHost.setCookieHeaderValue(), from: url, now: now)
        jar.receive(setCookie: try deletePref.setCookieHeaderValue(), from: url, now: now)
        #expect(jar.count == 0)
    }

    // MARK: - IMF-fixdate

    @Test(arguments: [
        (784_111_777.0, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (0.0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_767_225_599.0, "Wed, 31 Dec 2025 23:59:59 GMT"),
        (1_767_225_600.0, "Thu, 01 Jan 2026 00:00:00 GMT"),
        (1_767_225_600.999, "Thu, 01 Jan 2026 00:00:00 GMT"),
        (-0.5, "Wed, 31 Dec 1969 23:59:59 GMT"),
        (-11_644_473_600.0, "Mon, 01 Jan 1601 00:00:00 GMT"),
        (253_402_300_799.0, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (4_107_542_400.0, "Mon, 01 Mar 2100 00:00:00 GMT"),  // 2100 is not a leap year.
    ])
    func imfFixdate(_ seconds: Double, _ expected: String) {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(CookieDate.format(date) == expected)
        #expect(CookieDate.parse(expected) == Date(timeIntervalSince1970: seconds.rounded(.down)))
    }

    @Test func imfFixdateClampsOutOfRangeDates() {
        #expect(CookieDate.format(.distantFuture) == "Mon, 01 Jan 4001 00:00:00 GMT")
        #expect(CookieDate.format(.distantPast) == "Mon, 01 Jan 0001 00:00:00 GMT")
        #expect(CookieDate.format(Date(timeIntervalSince1970: 1e300)) == "Fri, 31 Dec 9999 23:59:59 GMT")
        #expect(CookieDate.format(Date(timeIntervalSince1970: -.infinity)) == "Mon, 01 Jan 0001 00:00:00 GMT")
    }
}

import CloakroomCore
import Foundation
import Testing

/// `SetCookieParser` (RFC 6265bis section 5.6 with its RFC 6265 choices) and `CookieDate.parse` edge cases.
@Suite("Set-Cookie parser")
struct SetCookieParserTests {
    @Test func nameValueAndWhitespace() throws {
        let parsed = try #require(SetCookieParser.parse(" \tsid = a b \t; Path=/"))
        #expect(parsed.name == "sid")
        #expect(parsed.value == "a b")
        #expect(parsed.path == "/")
    }

    /// RFC 6265 section 5.2 steps 2 and 5: no `=` in the name-value-pair, or an empty name
    /// after trimming, ignores the whole header (RFC 6265bis would make a nameless cookie).
    @Test(arguments: [
        "justavalue", "justavalue; Secure", "foo;bar=baz", "\"foo;bar\"=baz", "BLAHHH; path=/;",
        "=value", "=a=bar", "===a=bar", " =eight", "\t=x; Path=/", "=; Secure=x",
    ])
    func namelessCookieIsIgnored(_ header: String) {
        #expect(SetCookieParser.parse(header) == nil)
    }

    @Test func emptyValueWithANameIsKept() throws {
        let parsed = try #require(SetCookieParser.parse("a=; Secure"))
        #expect(parsed.name == "a")
        #expect(parsed.value == "")
        #expect(parsed.secure)
        #expect(SetCookieParser.parse("a")?.name == nil)
        #expect(SetCookieParser.parse("a=")?.name == "a")
    }

    @Test(arguments: ["", "   ", "=", " = ", "; Secure", "=; Path=/"])
    func emptyNameAndValueIsIgnored(_ header: String) {
        #expect(SetCookieParser.parse(header) == nil)
    }

    /// Control characters other than HTAB, NUL, CR and LF still drop the whole header.
    @Test(arguments: [
        "a=b\u{1}c", "a=b; Path=/\u{1F}", "a\u{7F}=b", "a=b; \u{8}Secure", "a=b\u{0B}", "a=b\u{0C}",
        "a=b\u{1}\nc", "a=b\u{1B}\u{0}",
    ])
    func controlCharactersRejectTheWholeHeader(_ header: String) {
        #expect(SetCookieParser.parse(header) == nil)
    }

    /// NUL, CR and LF truncate the header at the first of them; the rest is parsed.
    @Test(arguments: ["AAA=BB\u{0}ZYX", "AAA=BB\rZYX", "AAA=BB\nZYX", "AAA=BB\r\nSet-Cookie: x=y", "AAA=BB\n\u{1}ZYX"])
    func nulCarriageReturnAndLineFeedTruncate(_ header: String) throws {
        let parsed = try #require(SetCookieParser.parse(header))
        #expect(parsed.name == "AAA")
        #expect(parsed.value == "BB")
    }

    @Test func truncationAlsoCutsAttributes() throws {
        let kept = try #require(SetCookieParser.parse("a=b; Secure\u{0}; HttpOnly"))
        #expect(kept.secure)
        #expect(!kept.httpOnly)
        let cut = try #require(SetCookieParser.parse("a=b \r; Secure"))
        #expect(cut.value == "b")
        #expect(!cut.secure)
        // Truncation can leave nothing, or a nameless pair: both are ignored.
        #expect(SetCookieParser.parse("\na=b") == nil)
        #expect(SetCookieParser.parse("foo\r=bar") == nil)
    }

    @Test func horizontalTabIsWhitespace() throws {
        let parsed = try #require(SetCookieParser.parse("a=\tb\t;\tSecure\t"))
        #expect(parsed.value == "b")
        #expect(parsed.secure)
    }

    @Test func nameValueLengthBoundary() throws {
        let atLimit = "n=" + String(repeating: "v", count: 4095)
        #expect(SetCookieParser.parse(atLimit)?.value.count == 4095)
        #expect(SetCookieParser.parse(atLimit + "v") == nil)
        // Whitespace is stripped before measuring.
        #expect(SetCookieParser.parse("  " + atLimit + "  ; Path=/") != nil)
        // Octets, not characters: "é" is two octets.
        #expect(SetCookieParser.parse("n=" + String(repeating: "é", count: 2047) + "v") != nil)
        #expect(SetCookieParser.parse("n=" + String(repeating: "é", count: 2048)) == nil)
    }

    @Test func attributeValueLengthBoundary() throws {
        let path = "/" + String(repeating: "p", count: 1023)
        #expect(SetCookieParser.parse("a=b; Path=\(path)")?.path == path)
        #expect(SetCookieParser.parse("a=b; Path=/x; Path=\(path)p")?.path == "/x")
    }

    @Test func attributeNamesAreCaseInsensitiveAndLastWins() throws {
        let parsed = try #require(
            SetCookieParser.parse(
                "a=b; pAtH=/one; path=/two; DOMAIN=.Example.COM; max-age=5; MAX-AGE=7; httponly; secure=no; "
                    + "SAMESITE=lax; partitioned; Expires=Sun, 06 Nov 1994 08:49:37 GMT"
            )
        )
        #expect(parsed.path == "/two")
        #expect(parsed.domain == "example.com")
        #expect(parsed.maxAge == 7)
        #expect(parsed.httpOnly && parsed.secure && parsed.partitioned)
        #expect(parsed.sameSite == .lax)
        #expect(parsed.expires == Date(timeIntervalSince1970: 784_111_777))
    }

    @Test func maxAgeParsing() {
        #expect(SetCookieParser.parse("a=b; Max-Age=0")?.maxAge == 0)
        #expect(SetCookieParser.parse("a=b; Max-Age=-5")?.maxAge == -5)
        #expect(SetCookieParser.parse("a=b; Max-Age=007")?.maxAge == 7)
        #expect(SetCookieParser.parse("a=b; Max-Age=99999999999999999999999")?.maxAge == Int.max)
        #expect(SetCookieParser.parse("a=b; Max-Age=-99999999999999999999999")?.maxAge == Int.min)
        for invalid in ["+5", "5s", "1.5", "", "-", " ", "five", "5 5", "0x10"] {
            #expect(SetCookieParser.parse("a=b; Max-Age=\(invalid)")?.maxAge == nil, "Max-Age=\(invalid)")
        }
        // An invalid later attribute does not undo an earlier valid one.
        #expect(SetCookieParser.parse("a=b; Max-Age=5; Max-Age=x")?.maxAge == 5)
    }

    @Test func expiresParsing() {
        #expect(SetCookieParser.parse("a=b; Expires=garbage")?.expires == nil)
        #expect(
            SetCookieParser.parse("a=b; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Expires=nope")?.expires
                == Date(timeIntervalSince1970: 784_111_777)
        )
    }

    @Test func domainParsing() {
        #expect(SetCookieParser.parse("a=b; Domain=..example.com")?.domain == ".example.com")
        #expect(SetCookieParser.parse("a=b; Domain=.")?.domain == "")
        #expect(SetCookieParser.parse("a=b; Domain=example.com; Domain=.")?.domain == "")
        #expect(SetCookieParser.parse("a=b")?.domain == nil)
    }

    /// RFC 6265 section 5.2.3: an empty Domain value is ignored entirely, not taken as "host-only".
    @Test func emptyDomainAttributeIsIgnored() {
        #expect(SetCookieParser.parse("a=b; Domain=")?.domain == nil)
        #expect(SetCookieParser.parse("a=b; Domain= \t ")?.domain == nil)
        #expect(SetCookieParser.parse("a=b; Domain")?.domain == nil)
        #expect(SetCookieParser.parse("a=b; Domain=example.com; Domain=")?.domain == "example.com")
        #expect(SetCookieParser.parse("a=b; domain=Foo.Example.org; DOMAIN=; Path=/")?.domain == "foo.example.org")
        #expect(SetCookieParser.parse("a=b; Domain=; Domain=example.com")?.domain == "example.com")
    }

    @Test func sameSiteParsing() {
        #expect(SetCookieParser.parse("a=b; SameSite=Strict")?.sameSite == .strict)
        #expect(SetCookieParser.parse("a=b; SameSite=NONE")?.sameSite == SameSite.none)
        #expect(SetCookieParser.parse("a=b; SameSite=bogus")?.sameSite == nil)
        #expect(SetCookieParser.parse("a=b; SameSite=Lax; SameSite=bogus")?.sameSite == nil)
        #expect(SetCookieParser.parse("a=b; SameSite")?.sameSite == nil)
    }

    @Test func commasDoNotSplitCookies() {
        let parsed = SetCookieParser.parse("a=b, c=d; Path=/")
        #expect(parsed?.name == "a")
        #expect(parsed?.value == "b, c=d")
    }

    // MARK: - Cookie dates

    @Test(arguments: [
        "Sun, 29 Feb 2015 00:00:00 GMT",  // not a leap year
        "31 Apr 2020 00:00:00",
        "01 Jan 1600 00:00:00",
        "00 Jan 2020 00:00:00",
        "01 Jan 2020 24:00:00",
        "01 Jan 2020 00:60:00",
        "01 Jan 2020 00:00:60",
        "01 Jan 2020",
        "Jan 2020 00:00:00",
        "01 2020 00:00:00",
        "",
    ])
    func invalidCookieDates(_ text: String) {
        #expect(CookieDate.parse(text) == nil)
    }

    @Test func leapDayAndTwoDigitYears() {
        #expect(CookieDate.parse("29 Feb 2000 12:00:00").map(CookieDate.format) == "Tue, 29 Feb 2000 12:00:00 GMT")
        #expect(CookieDate.parse("1 jan 69 0:0:0").map(CookieDate.format) == "Tue, 01 Jan 2069 00:00:00 GMT")
        #expect(CookieDate.parse("1 jan 70 0:0:0").map(CookieDate.format) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(CookieDate.parse("31 DECEMBER 9999 23:59:59").map(CookieDate.format) == "Fri, 31 Dec 9999 23:59:59 GMT")
        #expect(CookieDate.parse("1 Jan 1601 00:00:00").map(CookieDate.format) == "Mon, 01 Jan 1601 00:00:00 GMT")
    }
}

import CloakroomCore
import Foundation
import Testing

/// The IETF http-state test suite (abarth/http-state, written for RFC 6265), run
/// through `CookieJar` and `CookieDate`; data in `../shared/testdata/http-state/`.
@Suite("http-state suite")
struct CookieHTTPStateTests {
    /// A fixed "now" so that no case goes stale: 2026-01-01T00:00:00Z.
    static let now = Date(timeIntervalSince1970: 1_767_225_600)

    static let origin = "http://home.example.org:8888"

    @Test("parser.json has all 222 cases")
    func parserSuiteLoads() throws {
        let cases = try CookieHTTPStateData.loadParserCases()
        #expect(cases.count == 222)
        #expect(Set(cases.map(\.test)).count == cases.count)
    }

    @Test("parser.json case", arguments: CookieHTTPStateData.parserCaseNames)
    func parserCase(_ name: String) throws {
        let testCase = try #require(CookieHTTPStateData.parserCasesByName[name])
        let setURL = try #require(URL(string: "\(Self.origin)/cookie-parser?\(name)"))
        var jar = CookieJar()
        for header in testCase.received {
            jar.receive(setCookie: header, from: setURL, now: Self.now)
        }
        let resultURL: URL
        if let sentTo = testCase.sentTo {
            resultURL = try #require(URL(string: sentTo, relativeTo: setURL)?.absoluteURL)
        } else {
            resultURL = try #require(URL(string: "\(Self.origin)/cookie-parser-result?\(name)"))
        }

        let sent = jar.cookies(for: resultURL, now: Self.now).map { CookieHTTPStateData.Pair(name: $0.name, value: $0.value) }
        #expect(sent == testCase.sent)
    }

    @Test("cookie header serialisation of a suite case")
    func cookieHeaderOrder() throws {
        let setURL = try #require(URL(string: "\(Self.origin)/cookie-parser?ORDERING0001"))
        var jar = CookieJar()
        for header in [
            "key=val0;", "key=val1; path=/cookie-parser-result", "key=val2; path=/",
            "key=val3; path=/bar", "key=val4; domain=.example.org",
            "key=val5; domain=.example.org; path=/cookie-parser-result/foo",
        ] {
            jar.receive(setCookie: header, from: setURL, now: Self.now)
        }
        let url = try #require(URL(string: "\(Self.origin)/cookie-parser-result/foo/baz?ordering0001"))
        #expect(jar.cookieHeader(for: url, now: Self.now) == "key=val5; key=val1; key=val2; key=val4")
        #expect(jar.count == 5)
    }

    @Test("dates/examples.json has 15 cases and bsd-examples.json 55")
    func dateSuitesLoad() throws {
        #expect(try CookieHTTPStateData.loadDateCases(file: "examples.json").count == 15)
        #expect(try CookieHTTPStateData.loadDateCases(file: "bsd-examples.json").count == 55)
    }

    @Test("dates/examples.json case", arguments: CookieHTTPStateData.dateCases(file: "examples.json"))
    func dateExample(_ testCase: CookieHTTPStateData.DateCase) {
        checkDate(testCase)
    }

    @Test("dates/bsd-examples.json case", arguments: CookieHTTPStateData.dateCases(file: "bsd-examples.json"))
    func bsdDateExample(_ testCase: CookieHTTPStateData.DateCase) {
        checkDate(testCase)
    }

    private func checkDate(_ testCase: CookieHTTPStateData.DateCase) {
        let parsed = CookieDate.parse(testCase.test)
        if let expected = testCase.expected {
            #expect(parsed.map(CookieDate.format) == expected, "parsing \(testCase.test)")
            #expect(parsed == CookieDate.parse(expected), "expected value must round-trip")
        } else {
            #expect(parsed == nil, "parsing \(testCase.test)")
        }
    }
}

import CloakroomCore
import Testing

/// `CookieHeader` (request `Cookie` header on the server side).
@Suite("Cookie request header")
struct CookieHeaderTests {
    private func pairs(_ header: String) -> [String] {
        CookieHeader.parse(header).map { "\($0.name)=\($0.value)" }
    }

    @Test func wellFormed() {
        #expect(pairs("a=b") == ["a=b"])
        #expect(pairs("a=b; c=d; e=f") == ["a=b", "c=d", "e=f"])
    }

    @Test func emptyAndSeparatorsOnly() {
        #expect(pairs("").isEmpty)
        #expect(pairs(";").isEmpty)
        #expect(pairs(";;").isEmpty)
        #expect(pairs(" ; ;\t;").isEmpty)
        #expect(pairs("a=b;;c=d;") == ["a=b", "c=d"])
    }

    @Test func pairsWithoutEqualsAreSkipped() {
        #expect(pairs("a").isEmpty)
        #expect(pairs("a; b=c; d") == ["b=c"])
    }

    @Test func emptyOrInvalidNamesAreSkipped() {
        #expect(pairs("=b").isEmpty)
        #expect(pairs(" =b; c=d") == ["c=d"])
        #expect(pairs("a b=c; d=e") == ["d=e"])
        #expect(pairs("a,b=c; \"q\"=1; é=2; ok=3") == ["ok=3"])
    }

    @Test func whitespaceAroundNamesAndValuesIsRemoved() {
        #expect(pairs("  a = b  ;\tc\t=\td\t") == ["a=b", "c=d"])
        #expect(pairs("a=b c") == ["a=b c"])
    }

    @Test func valuesAreKeptAsSent() {
        #expect(pairs("a=\"quoted\"") == ["a=\"quoted\""])
        #expect(pairs("a=\" spaced \"") == ["a=\" spaced \""])
        #expect(pairs("a=b=c") == ["a=b=c"])
        #expect(pairs("a=") == ["a="])
        #expect(pairs("a=x, y") == ["a=x, y"])
        #expect(pairs("a=春节") == ["a=春节"])
    }

    @Test func duplicatesAreKeptInOrder() {
        #expect(pairs("a=1; a=2") == ["a=1", "a=2"])
        #expect(CookieHeader.first(named: "a", in: "a=1; a=2") == "1")
    }

    @Test func first() {
        let header = "theme=dark; sid=\"abc\"; empty="
        #expect(CookieHeader.first(named: "sid", in: header) == "\"abc\"")
        #expect(CookieHeader.first(named: "empty", in: header) == "")
        #expect(CookieHeader.first(named: "SID", in: header) == nil)
        #expect(CookieHeader.first(named: "missing", in: header) == nil)
        #expect(CookieHeader.first(named: "a", in: "") == nil)
        #expect(CookieHeader.value(named: "theme", in: header) == "dark")
    }

    @Test func jarOutputParsesBack() throws {
        let header = "a=b; c=\"d e\"; f="
        #expect(pairs(header) == ["a=b", "c=\"d e\"", "f="])
    }
}

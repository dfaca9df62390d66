import Testing

@testable import CloakroomCore

@Suite("application/x-www-form-urlencoded bodies")
struct FormURLEncodedTests {
    @Test("fields decode + and percent-escapes; the first value of a name wins; a pair without = is empty")
    func decodes() {
        let fields = FormURLEncoded.parse(
            "grant_type=password&username=al%69ce&password=a+long+pass%20phrase&scope&username=bob&&name=%C3%A9l%C3%A8ve"
        )
        #expect(fields == ["grant_type": "password", "username": "alice", "password": "a long pass phrase", "scope": "", "name": "élève"])
        #expect(FormURLEncoded.parse("") == [:])
        #expect(FormURLEncoded.parse("a=%2B%26%3D") == ["a": "+&="])
    }

    @Test("a malformed escape or bytes that are not UTF-8 refuse the whole form", arguments: ["a=%", "a=%4", "a=%zz", "%=b", "a=%FF", "a=%C3"])
    func malformed(_ body: String) {
        #expect(FormURLEncoded.parse(body) == nil)
    }
}

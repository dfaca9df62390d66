import Hummingbird
import Testing

@testable import CloakroomHummingbird

@Suite("Origin check")
struct OriginCheckTests {
    @Test("the other scheme on the same host is another origin once the scheme is known")
    func schemeIsPartOfTheOrigin() {
        let http = OriginCheckMiddleware<BasicRequestContext>(secure: false)
        #expect(http.isAllowed(origin: "http://127.0.0.1:8080", host: "127.0.0.1:8080"))
        #expect(!http.isAllowed(origin: "https://127.0.0.1:8080", host: "127.0.0.1:8080"))
        let https = OriginCheckMiddleware<BasicRequestContext>(secure: true)
        #expect(https.isAllowed(origin: "https://example.com", host: "example.com"))
        #expect(!https.isAllowed(origin: "http://example.com", host: "example.com"))
        let either = OriginCheckMiddleware<BasicRequestContext>()
        #expect(either.isAllowed(origin: "https://example.com", host: "example.com"))
        #expect(either.isAllowed(origin: "http://example.com", host: "example.com"))
        #expect(!either.isAllowed(origin: "https://evil.example", host: "example.com"))
        #expect(!either.isAllowed(origin: "null", host: "example.com"))
    }
}

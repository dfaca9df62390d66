import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CloakroomHummingbird

/// Every response carries each security header exactly once, whatever the handler set; a handler's
/// own Content-Security-Policy is kept; HSTS only when served over HTTPS. Over real HTTP.
@Suite("Security headers")
struct SecurityHeadersTests {
    static func app(hsts: Bool, includeSubdomains: Bool = false) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: SecurityHeadersMiddleware(hsts: hsts, includeSubdomains: includeSubdomains))
        router.get("plain") { _, _ in "plain" }
        router.get("own") { _, _ -> Response in
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Frame-Options")!] = "SAMEORIGIN"
            headers.append(HTTPField(name: HTTPField.Name("X-Frame-Options")!, value: "ALLOW-FROM https://evil.example"))
            headers[.contentSecurityPolicy] = "default-src 'self'"
            return Response(status: .ok, headers: headers)
        }
        return Application(router: router)
    }

    static let expected: [(String, String)] = [
        ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]

    @Test("each header once, handler values replaced, the handler's own policy kept, no HSTS over HTTP")
    func headersOnEveryResponse() async throws {
        try await Self.app(hsts: false).test(.live) { client in
            for path in ["/plain", "/own"] {
                let response = try await client.executeRequest(uri: path, method: .get, headers: [:], body: nil)
                for (name, value) in Self.expected {
                    #expect(response.headers[values: HTTPField.Name(name)!] == [value], "\(path) \(name)")
                }
                let permissions = response.headers[values: HTTPField.Name("Permissions-Policy")!]
                #expect(permissions.count == 1 && permissions[0].contains("camera=()") && permissions[0].contains("geolocation=()"))
                #expect(response.headers[.strictTransportSecurity] == nil)
                let policy = response.headers[values: .contentSecurityPolicy]
                #expect(policy.count == 1, "\(path)")
                if path == "/own" {
                    #expect(policy == ["default-src 'self'"])
                } else {
                    #expect(policy.first?.hasPrefix("default-src 'none';") == true)
                }
            }
        }
    }

    @Test("HSTS over HTTPS, with subdomains only when asked")
    func strictTransportSecurity() async throws {
        try await Self.app(hsts: true).test(.router) { client in
            let response = try await client.executeRequest(uri: "/plain", method: .get, headers: [:], body: nil)
            #expect(response.headers[values: .strictTransportSecurity] == ["max-age=31536000"])
        }
        try await Self.app(hsts: true, includeSubdomains: true).test(.router) { client in
            let response = try await client.executeRequest(uri: "/plain", method: .get, headers: [:], body: nil)
            #expect(response.headers[values: .strictTransportSecurity] == ["max-age=31536000; includeSubDomains"])
        }
    }
}

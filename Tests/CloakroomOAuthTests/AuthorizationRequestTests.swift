import CloakroomCore
import CloakroomOAuth
import Foundation
import Testing

/// `GET /authorize` checks (RFC 6749 §4.1.1 and §4.1.2.1 under OAuth 2.1 and RFC 9700).
@Suite("Authorization requests")
struct AuthorizationRequestTests {
    static let client = OAuthClient(
        id: "orders",
        name: "Orders",
        secretHash: SecureToken.hash("s"),
        redirectURIs: ["https://orders.example/cb?tenant=1", "http://127.0.0.1/native"],
        scopes: Scope(["openid", "profile", "orders:read"]),
        createdAt: Date(timeIntervalSince1970: 0)
    )
    static let challenge = PKCE.challenge(for: String(repeating: "v", count: 43))
    static let redirect = "https://orders.example/cb?tenant=1"

    static func query(_ changes: [String: String?] = [:], extra: [(String, String)] = []) -> String {
        var fields: [String: String] = [
            "client_id": "orders", "redirect_uri": redirect, "response_type": "code", "scope": "openid orders:read",
            "state": "st 1/ü", "nonce": "n-0", "code_challenge": challenge, "code_challenge_method": "S256",
        ]
        for (name, value) in changes { fields[name] = value }
        return FormURLEncoded.encode(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } + extra)
    }

    static func check(_ query: String) async throws -> AuthorizationRequest.Outcome {
        try await AuthorizationRequest.check(query: query) { $0 == "orders" ? client : nil }
    }

    @Test("a well-formed request is valid, every field carried")
    func valid() async throws {
        let outcome = try await Self.check(Self.query(["prompt": "login consent", "max_age": "300"]))
        guard case .valid(let request) = outcome else {
            Issue.record("expected valid, got \(outcome)")
            return
        }
        #expect(request.client.id == "orders" && request.redirectURI == Self.redirect)
        #expect(request.scope == Scope(["openid", "orders:read"]) && request.state == "st 1/ü" && request.nonce == "n-0")
        #expect(request.codeChallenge == Self.challenge && request.prompt == ["login", "consent"] && request.maxAge == 300)
        // A native app's loopback redirect on any port.
        guard case .valid(let native) = try await Self.check(Self.query(["redirect_uri": "http://127.0.0.1:49152/native"])) else {
            Issue.record("a loopback redirect with a port was refused")
            return
        }
        #expect(native.redirectURI == "http://127.0.0.1:49152/native")
    }

    @Test(
        "an unknown, missing or repeated client, or a redirect URI not registered, is shown to the user, never redirected",
        arguments: [
            (["client_id": nil], "client_id is required"),
            (["client_id": "other"], "unknown client_id"),
            (["redirect_uri": "https://orders.example/cb"], "not registered"),
            (["redirect_uri": "https://orders.example/cb?tenant=1&x=1"], "not registered"),
            (["redirect_uri": "https://orders.example/cb?tenant=2"], "not registered"),
            (["redirect_uri": "https://ORDERS.example/cb?tenant=1"], "not registered"),
            (["redirect_uri": "https://orders.example:443/cb?tenant=1"], "not registered"),
            (["redirect_uri": "https://evil.example/cb?tenant=1"], "not registered"),
            (["redirect_uri": nil], "redirect_uri is required"),
        ] as [([String: String?], String)]
    )
    func refused(_ changes: [String: String?], _ reason: String) async throws {
        let outcome = try await Self.check(Self.query(changes))
        guard case .refused(let error) = outcome else {
            Issue.record("expected refused, got \(outcome)")
            return
        }
        #expect(error.message.contains(reason), "\(error)")
    }

    @Test("a repeated client_id or redirect_uri is refused outright")
    func repeatedIdentity() async throws {
        for name in ["client_id", "redirect_uri"] {
            let outcome = try await Self.check(Self.query(extra: [(name, name == "client_id" ? "orders" : Self.redirect)]))
            guard case .refused(let error) = outcome else {
                Issue.record("\(name) twice: \(outcome)")
                continue
            }
            #expect(error.code == "invalid_request" && error.message.contains("more than once"))
        }
    }

    @Test(
        "after the redirect URI is known, errors go back to it with the state",
        arguments: [
            (["response_type": "token"], "unsupported_response_type", "implicit"),
            (["response_type": "code id_token"], "unsupported_response_type", "only response_type=code"),
            (["response_type": nil], "invalid_request", "response_type is required"),
            (["response_mode": "fragment"], "invalid_request", "response_mode"),
            (["scope": "openid admin"], "invalid_scope", "admin"),
            (["scope": "openid  profile"], "invalid_scope", "space-separated"),
            (["code_challenge": nil], "invalid_request", "code_challenge is required"),
            (["code_challenge_method": "plain"], "invalid_request", "S256"),
            (["code_challenge_method": nil], "invalid_request", "S256"),
            (["code_challenge": "short"], "invalid_request", "43-character"),
            (["prompt": "none login"], "invalid_request", "prompt=none"),
            (["prompt": "sometimes"], "invalid_request", "prompt takes"),
            (["max_age": "-1"], "invalid_request", "max_age"),
            (["max_age": "+5"], "invalid_request", "max_age"),
            (["nonce": ""], "invalid_request", "nonce"),
            (["request": "eyJ..."], "request_not_supported", "request objects"),
            (["request_uri": "urn:x"], "request_uri_not_supported", "request_uri"),
        ] as [([String: String?], String, String)]
    )
    func redirected(_ changes: [String: String?], _ code: String, _ reason: String) async throws {
        let outcome = try await Self.check(Self.query(changes))
        guard case .redirect(let error, let uri, let state) = outcome else {
            Issue.record("expected a redirect, got \(outcome)")
            return
        }
        #expect(error.code == code && error.message.contains(reason), "\(error)")
        #expect(uri == Self.redirect && state == "st 1/ü")
    }

    @Test("a repeated scope or state is an error sent back; unknown parameters are ignored")
    func repeatedOthers() async throws {
        let outcome = try await Self.check(Self.query(extra: [("scope", "openid"), ("utm_source", "a"), ("utm_source", "b")]))
        guard case .redirect(let error, _, _) = outcome else {
            Issue.record("expected a redirect, got \(outcome)")
            return
        }
        #expect(error.message == "scope is given more than once")
    }

    @Test("an error redirect keeps the registered query and adds error, description, state and iss, percent-encoded")
    func errorRedirect() throws {
        let error = OAuthError.invalidScope("this client may not ask for admin")
        let location = error.redirect(to: Self.redirect, state: "st 1/ü", issuer: "https://id.example")
        #expect(
            location
                == "https://orders.example/cb?tenant=1&error=invalid_scope&error_description=this%20client%20may%20not%20ask%20for%20admin"
                + "&state=st%201%2F%C3%BC&iss=https%3A%2F%2Fid.example"
        )
        let parsed = try #require(URLComponents(string: location)?.queryItems)
        #expect(parsed.map(\.name) == ["tenant", "error", "error_description", "state", "iss"])
        #expect(parsed.first { $0.name == "state" }?.value == "st 1/ü")
        #expect(OAuthError.invalidRequest("bad \"quote\" \\ and\nnewline").message == "bad quote  andnewline")
    }
}

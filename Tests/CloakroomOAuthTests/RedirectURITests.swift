import CloakroomOAuth
import Testing

/// Redirect URIs are registered in full and compared exactly (RFC 9700 §4.1; RFC 8252 for loopback).
@Suite("Redirect URIs")
struct RedirectURITests {
    static let registered = "https://app.example.com/oauth/callback"

    @Test(
        "a prefix, case, path, port, query, fragment, scheme or user-info variant does not match",
        arguments: [
            "https://app.example.com/oauth/callback/",
            "https://app.example.com/oauth/callback/../evil",
            "https://app.example.com/oauth/callbackx",
            "https://app.example.com/oauth/call",
            "https://app.example.com/oauth",
            "https://APP.example.com/oauth/callback",
            "https://app.example.com/OAuth/callback",
            "https://app.example.com:443/oauth/callback",
            "https://app.example.com:8443/oauth/callback",
            "https://app.example.com/oauth/callback?x=1",
            "https://app.example.com/oauth/callback#frag",
            "http://app.example.com/oauth/callback",
            "https://app.example.com.evil.example/oauth/callback",
            "https://evil.example@app.example.com/oauth/callback",
            "https://app.example.com%2F@evil.example/oauth/callback",
            "https://app.example.com/oauth/callback ",
            "",
        ]
    )
    func variantsRefused(_ presented: String) {
        #expect(!RedirectURI.matches(presented, registered: Self.registered))
        #expect(RedirectURI.match(presented, in: [Self.registered]) == nil)
    }

    @Test("the registered URI itself matches")
    func exact() {
        #expect(RedirectURI.matches(Self.registered, registered: Self.registered))
        #expect(RedirectURI.match(Self.registered, in: ["https://other.example/cb", Self.registered]) == Self.registered)
    }

    @Test("a native app's loopback IP redirect may use any port; nothing else about it may change")
    func loopbackPorts() {
        let ipv4 = "http://127.0.0.1/callback?app=1"
        #expect(RedirectURI.matches("http://127.0.0.1:51234/callback?app=1", registered: ipv4))
        #expect(RedirectURI.matches("http://127.0.0.1:8080/callback?app=1", registered: "http://127.0.0.1:3000/callback?app=1"))
        #expect(RedirectURI.matches("http://[::1]:6000/cb", registered: "http://[::1]/cb"))
        for variant in [
            "http://127.0.0.1:51234/callback?app=2", "http://127.0.0.1:51234/callbackx?app=1", "http://127.0.0.1:51234/Callback?app=1",
            "https://127.0.0.1:51234/callback?app=1", "http://127.0.0.2:51234/callback?app=1", "http://127.0.0.1:51234/callback?app=1#x",
            "http://x@127.0.0.1:51234/callback?app=1", "http://localhost:51234/callback?app=1",
        ] {
            #expect(!RedirectURI.matches(variant, registered: ipv4), "\(variant)")
        }
        // localhost is not an IP literal (RFC 8252 §7.3 says not to rely on it): exact only.
        #expect(!RedirectURI.matches("http://localhost:4000/cb", registered: "http://localhost:3000/cb"))
        #expect(RedirectURI.matches("http://localhost:3000/cb", registered: "http://localhost:3000/cb"))
    }

    @Test(
        "registration refuses what cannot be compared safely, saying why",
        arguments: [
            ("/callback", "not an absolute URI"),
            ("https://app.example.com/cb#x", "no fragment"),
            ("https://*.example.com/cb", "wildcards"),
            ("https://app.example.com/cb*", "wildcards"),
            ("http://app.example.com/cb", "http is allowed only on loopback"),
            ("https://user:pw@app.example.com/cb", "no user information"),
            ("myapp:/cb", "reverse-domain"),
            ("javascript:alert(1)", "reverse-domain"),
            ("https:///cb", "no host"),
        ]
    )
    func registrationRefused(_ uri: String, _ reason: String) {
        #expect {
            try RedirectURI.validate(uri)
        } throws: { error in
            (error as? RedirectURI.Problem)?.description.contains(reason) == true
        }
    }

    @Test("registration accepts https, http on loopback and reverse-domain schemes")
    func registrationAccepted() throws {
        for uri in [
            "https://app.example.com/cb", "https://app.example.com:8443/cb?tenant=1", "http://127.0.0.1/cb", "http://[::1]:8080/cb",
            "http://localhost:3000/cb", "com.example.app:/oauth2redirect",
        ] {
            try RedirectURI.validate(uri)
        }
    }
}

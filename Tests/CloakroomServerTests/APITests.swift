import CloakroomCore
import CloakroomHummingbird
import CloakroomSessions
import CloakroomTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import CloakroomServer

@Suite("JSON API over HTTP")
struct APITests {
    @Test func registerSignsInWithAHardenedCookie() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let alice = Visitor(client)
            let response = try await alice.request(.post, "/api/register", json: credentials("alice"))
            #expect(response.status == .created)
            let setCookie = try #require(alice.lastSetCookie)
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.contains("SameSite=Lax"))
            #expect(setCookie.contains("Path=/"))
            #expect(setCookie.contains("Max-Age=1800") || setCookie.contains("Max-Age=1799"))
            #expect(!setCookie.contains("Secure"))
            #expect(response.headers[.cacheControl] == "no-store")
            let body = try response.json()
            let user = try #require(body["user"] as? [String: Any])
            #expect(user["username"] as? String == "alice")
            let id = try #require(alice.cookie)
            #expect(Base64URL.decode(id)?.count == 32, "session ID is 256 bits of base64url")

            let me = try await alice.request(.get, "/api/me")
            #expect(me.status == .ok)
            #expect(((try me.json())["user"] as? [String: Any])?["username"] as? String == "alice")
        }
    }

    @Test func sessionIDIsStoredOnlyHashed() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let alice = Visitor(client)
            try await alice.request(.post, "/api/register", json: credentials("alice"))
            let id = try #require(alice.cookie)
            let store = server.backends.sessions
            #expect(try await store.load(key: id, now: Date()) == nil, "the raw ID must not be a store key")
            #expect(try await store.load(key: SecureToken.hash(id), now: Date()) != nil)
        }
    }

    @Test func loginRotatesTheSessionID() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let setup = Visitor(client)
            try await setup.request(.post, "/api/register", json: credentials("bob"))

            let bob = Visitor(client)
            // An anonymous session exists first (as a fixation attacker would plant).
            let page = try await bob.request(.get, "/login")
            #expect(page.status == .ok)
            let before = try #require(bob.cookie)
            let login = try await bob.request(.post, "/api/login", json: credentials("bob"))
            #expect(login.status == .ok)
            let after = try #require(bob.cookie)
            #expect(before != after, "sign-in must issue a new session ID")

            let attacker = Visitor(client)
            attacker.cookie = before
            let stolen = try await attacker.request(.get, "/api/me")
            #expect(stolen.status == .unauthorized, "the pre-login ID must be dead")
        }
    }

    @Test func wrongPasswordAndUnknownUserLookTheSame() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let visitor = Visitor(client)
            try await visitor.request(.post, "/api/register", json: credentials("carol"))
            let wrong = try await Visitor(client).request(.post, "/api/login", json: credentials("carol", "not the password!!"))
            let unknown = try await Visitor(client).request(.post, "/api/login", json: credentials("nobody-here", "not the password!!"))
            #expect(wrong.status == .unauthorized)
            #expect(unknown.status == .unauthorized)
            #expect(wrong.text == unknown.text)
            #expect(wrong.errorCode == "invalid_credentials")
        }
    }

    @Test func logoutEndsTheSessionAndClearsTheCookie() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let dave = Visitor(client)
            try await dave.request(.post, "/api/register", json: credentials("dave"))
            let id = try #require(dave.cookie)
            let logout = try await dave.request(.post, "/api/logout", json: "{}")
            #expect(logout.status == .noContent)
            let cleared = try #require(dave.lastSetCookie)
            #expect(cleared.contains("Max-Age=0"))
            #expect(dave.cookie == nil)
            let replay = Visitor(client)
            replay.cookie = id
            #expect(try await replay.request(.get, "/api/me").status == .unauthorized)
            #expect(try await server.backends.sessions.load(key: SecureToken.hash(id), now: Date()) == nil)
        }
    }

    @Test func listAndRevokeSessions() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let laptop = Visitor(client)
            try await laptop.request(.post, "/api/register", json: credentials("erin"))
            let phone = Visitor(client)
            try await phone.request(.post, "/api/login", json: credentials("erin"), headers: [.userAgent: "Phone/1.0"])
            let tablet = Visitor(client)
            try await tablet.request(.post, "/api/login", json: credentials("erin"))

            let list = try await laptop.request(.get, "/api/sessions")
            #expect(list.status == .ok)
            let sessions = try #require((try list.json())["sessions"] as? [[String: Any]])
            #expect(sessions.count == 3)
            #expect(sessions.filter { $0["current"] as? Bool == true }.count == 1)
            let phoneEntry = try #require(sessions.first { $0["userAgent"] as? String == "Phone/1.0" })
            let phoneID = try #require(phoneEntry["id"] as? String)
            #expect(phoneID != phone.cookie, "the listed ID is a public handle, not the secret")

            let revoke = try await laptop.request(.delete, "/api/sessions/\(phoneID)", headers: [HTTPField.Name("X-Requested-With")!: "test"])
            #expect(revoke.status == .noContent)
            #expect(try await phone.request(.get, "/api/me").status == .unauthorized)
            #expect(try await tablet.request(.get, "/api/me").status == .ok)

            let again = try await laptop.request(.delete, "/api/sessions/\(phoneID)", headers: [HTTPField.Name("X-Requested-With")!: "test"])
            #expect(again.status == .notFound)
            #expect(again.errorCode == "session_not_found")

            let others = try await laptop.request(.delete, "/api/sessions", headers: [HTTPField.Name("X-Requested-With")!: "test"])
            #expect(others.status == .ok)
            #expect((try others.json())["revoked"] as? Int == 1)
            #expect(try await tablet.request(.get, "/api/me").status == .unauthorized)
            #expect(try await laptop.request(.get, "/api/me").status == .ok)
        }
    }

    @Test("ending other sessions over 5 minutes after signing in needs the password again (ASVS 7.5.2)")
    func endingOtherSessionsNeedsRecentAuthentication() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let laptop = Visitor(client)
            try await laptop.request(.post, "/api/register", json: credentials("ivan"))
            let phone = Visitor(client)
            try await phone.request(.post, "/api/login", json: credentials("ivan"), headers: [.userAgent: "Phone/1.0"])
            let list = try await laptop.request(.get, "/api/sessions")
            let sessions = try #require((try list.json())["sessions"] as? [[String: Any]])
            let phoneID = try #require(sessions.first { $0["userAgent"] as? String == "Phone/1.0" }?["id"] as? String)
            server.clock.advance(by: 301)

            let bare = try await laptop.request(.delete, "/api/sessions/\(phoneID)", headers: [HTTPField.Name("X-Requested-With")!: "t"])
            #expect(bare.status == .forbidden)
            #expect(bare.errorCode == "reauthentication_required")
            let everywhere = try await laptop.request(.delete, "/api/sessions", headers: [HTTPField.Name("X-Requested-With")!: "t"])
            #expect(everywhere.errorCode == "reauthentication_required")
            let wrong = try await laptop.request(.delete, "/api/sessions/\(phoneID)", json: #"{"password":"not the password at all"}"#)
            #expect(wrong.status == .unauthorized)
            #expect(wrong.errorCode == "invalid_credentials")
            #expect(try await phone.request(.get, "/api/me").status == .ok, "nothing ended without the password")

            let right = try await laptop.request(.delete, "/api/sessions/\(phoneID)", json: #"{"password":"\#(goodPassword)"}"#)
            #expect(right.status == .noContent)
            #expect(try await phone.request(.get, "/api/me").status == .unauthorized)
            // The re-entered password counts as a fresh sign-in for the next 5 minutes.
            let tablet = Visitor(client)
            try await tablet.request(.post, "/api/login", json: credentials("ivan"))
            let others = try await laptop.request(.delete, "/api/sessions", headers: [HTTPField.Name("X-Requested-With")!: "t"])
            #expect(others.status == .ok)
            #expect(try await tablet.request(.get, "/api/me").status == .unauthorized)
            // Signing out of one's own session never asks.
            server.clock.advance(by: 301)
            let own = try await laptop.request(.get, "/api/me")
            let ownID = try #require(((try own.json())["session"] as? [String: Any])?["id"] as? String)
            #expect(
                try await laptop.request(.delete, "/api/sessions/\(ownID)", headers: [HTTPField.Name("X-Requested-With")!: "t"]).status == .noContent
            )
        }
    }

    @Test func anotherUsersSessionCannotBeRevoked() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let frank = Visitor(client)
            try await frank.request(.post, "/api/register", json: credentials("frank"))
            let grace = Visitor(client)
            try await grace.request(.post, "/api/register", json: credentials("grace"))
            let list = try await grace.request(.get, "/api/sessions")
            let graceID = try #require(((try list.json())["sessions"] as? [[String: Any]])?.first?["id"] as? String)
            let attempt = try await frank.request(.delete, "/api/sessions/\(graceID)", headers: [HTTPField.Name("X-Requested-With")!: "x"])
            #expect(attempt.status == .notFound)
            #expect(try await grace.request(.get, "/api/me").status == .ok)
        }
    }

    @Test func anonymousVisitsStoreNothing() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let visitor = Visitor(client)
            for path in ["/", "/healthz", "/api/me"] {
                let response = try await visitor.request(.get, path)
                #expect(response.headers[.setCookie] == nil, "\(path) must not create a session")
            }
            let listed = try await server.backends.iterableSessions().list(now: Date(), afterKey: nil, limit: 10)
            #expect(listed.isEmpty)
        }
    }

    @Test func errorsAreJSONWithTheRightStatus() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let v = Visitor(client)
            try await v.request(.post, "/api/register", json: credentials("henry"))

            let cases: [(String, TestResponse, HTTPResponse.Status, String)] = [
                (
                    "wrong content type", try await Visitor(client).request(.post, "/api/login", headers: [.contentType: "text/plain"]),
                    .unsupportedMediaType, "unsupported_media_type"
                ),
                ("malformed JSON", try await Visitor(client).request(.post, "/api/login", json: "{\"username\":"), .badRequest, "invalid_json"),
                (
                    "missing field", try await Visitor(client).request(.post, "/api/login", json: #"{"username":"henry"}"#), .badRequest,
                    "invalid_request"
                ),
                (
                    "wrong type", try await Visitor(client).request(.post, "/api/login", json: #"{"username":1,"password":2}"#), .badRequest,
                    "invalid_request"
                ),
                (
                    "invalid UTF-8",
                    try await Visitor(client).request(
                        .post,
                        "/api/login",
                        json: "{\"username\":\"\u{FFFD}\"}".replacingOccurrences(of: "\u{FFFD}", with: "")
                    ), .badRequest, "invalid_request"
                ),
                (
                    "too large", try await Visitor(client).request(.post, "/api/login", json: String(repeating: " ", count: 70_000) + "{}"),
                    .contentTooLarge, "payload_too_large"
                ),
                (
                    "duplicate user", try await Visitor(client).request(.post, "/api/register", json: credentials("HENRY")), .conflict,
                    "username_taken"
                ),
                (
                    "weak password", try await Visitor(client).request(.post, "/api/register", json: credentials("ivy", "short")), .badRequest,
                    "weak_password"
                ),
                (
                    "breached password", try await Visitor(client).request(.post, "/api/register", json: credentials("ivy", "Qwertyuiop123")),
                    .badRequest, "weak_password"
                ),
                (
                    "bad username", try await Visitor(client).request(.post, "/api/register", json: credentials("a b<c>")), .badRequest,
                    "invalid_username"
                ),
                ("not signed in", try await Visitor(client).request(.get, "/api/sessions"), .unauthorized, "unauthenticated"),
                (
                    "cross-origin", try await v.request(.post, "/api/logout", json: "{}", headers: [.origin: "https://evil.example"]), .forbidden,
                    "cross_origin_request"
                ),
                ("cookie POST without CSRF header", try await v.request(.post, "/api/logout"), .forbidden, "csrf_header_missing"),
                ("unknown route", try await Visitor(client).request(.get, "/api/nope"), .notFound, "not_found"),
            ]
            for (name, response, status, code) in cases {
                #expect(response.status == status, "\(name): status \(response.status)")
                #expect(response.errorCode == code, "\(name): body \(response.text)")
                #expect((try? response.json())?["message"] is String, "\(name): message present")
            }
            // None of that lost the stored session.
            #expect(try await v.request(.get, "/api/me").status == .ok)
        }
    }

    @Test func invalidUTF8BodyIsRefused() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            var body = ByteBuffer(string: #"{"username":""#)
            body.writeBytes([0xFF, 0xFE])
            body.writeString(#"","password":"x"}"#)
            let response = try await client.executeRequest(uri: "/api/login", method: .post, headers: [.contentType: "application/json"], body: body)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "invalid_json")
        }
    }

    @Test func malformedCookiesAreIgnoredNotFatal() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let v = Visitor(client)
            try await v.request(.post, "/api/register", json: credentials("jack"))
            let good = try #require(v.cookie)
            for header in [
                "cloakroom=", "cloakroom=%%%", "=;;;", "cloakroom=\(String(repeating: "A", count: 43))", "cloakroom", ";",
                "cloakroom=\(good.dropLast())",
                "a=b; cloakroom=\(good)",
            ] {
                let response = try await client.executeRequest(uri: "/api/me", method: .get, headers: [.cookie: header], body: nil)
                if header.hasSuffix(good) {
                    #expect(response.status == .ok, "a valid cookie after others is found")
                } else {
                    #expect(response.status == .unauthorized, "\(header)")
                    #expect(response.errorCode == "unauthenticated")
                }
            }
            #expect(try await v.request(.get, "/api/me").status == .ok)
        }
    }

    @Test func throttlingSlowsThenLocks() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            try await Visitor(client).request(.post, "/api/register", json: credentials("kate"))
            for _ in 0..<3 {
                #expect(try await Visitor(client).request(.post, "/api/login", json: credentials("kate", "wrong password 1")).status == .unauthorized)
            }
            let slowed = try await Visitor(client).request(.post, "/api/login", json: credentials("kate"))
            #expect(slowed.status == .tooManyRequests, "even the right password waits during the delay")
            #expect(slowed.errorCode == "too_many_attempts")
            #expect(slowed.headers[.retryAfter] == "1")
            server.clock.advance(by: 2)
            let ok = try await Visitor(client).request(.post, "/api/login", json: credentials("kate"))
            #expect(ok.status == .ok, "after the delay the right password works")
            // Success reset the account counter: three free failures again.
            for _ in 0..<3 {
                #expect(try await Visitor(client).request(.post, "/api/login", json: credentials("kate", "wrong password 2")).status == .unauthorized)
            }
            // Keep failing past each delay until locked.
            var locked: TestResponse? = nil
            for _ in 0..<20 {
                server.clock.advance(by: 61)
                let r = try await Visitor(client).request(.post, "/api/login", json: credentials("kate", "wrong password 3"))
                if r.status == .tooManyRequests {
                    locked = r
                    break
                }
            }
            let lock = try #require(locked)
            #expect(Int(lock.headers[.retryAfter] ?? "0") ?? 0 > 800, "locked for about 15 minutes: \(lock.text)")
            #expect(lock.text.contains("locked"))
        }
    }

    @Test func healthReportsTheStore() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-health-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try await TestServer.make(store: .sqlite(path: path))
        try await server.run { client in
            let v = Visitor(client)
            try await v.request(.post, "/api/register", json: credentials("liam"))
            let up = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(up.status == .ok)
            #expect((try up.json())["store"] as? String == "up")

            try await server.backends.close()
            let down = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(down.status == .serviceUnavailable)
            #expect((try down.json())["store"] as? String == "down")
            let me = try await v.request(.get, "/api/me")
            #expect(me.status == .serviceUnavailable)
            #expect(me.errorCode == "session_store_unavailable")
        }
    }

    @Test func sessionCapRefusesOrEvicts() async throws {
        let refuse = try await TestServer.make {
            $0.sessions.maxSessionsPerUser = 2
            $0.sessions.overflowPolicy = .refuse
        }
        try await refuse.run { client in
            try await Visitor(client).request(.post, "/api/register", json: credentials("mia"))
            #expect(try await Visitor(client).request(.post, "/api/login", json: credentials("mia")).status == .ok)
            let third = try await Visitor(client).request(.post, "/api/login", json: credentials("mia"))
            #expect(third.status == .conflict)
            #expect(third.errorCode == "too_many_sessions")
        }
        let evict = try await TestServer.make {
            $0.sessions.maxSessionsPerUser = 2
            $0.sessions.overflowPolicy = .evictOldest
        }
        try await evict.run { client in
            let first = Visitor(client)
            try await first.request(.post, "/api/register", json: credentials("noah"))
            evict.clock.advance(by: 1)
            let second = Visitor(client)
            try await second.request(.post, "/api/login", json: credentials("noah"))
            evict.clock.advance(by: 1)
            let third = Visitor(client)
            #expect(try await third.request(.post, "/api/login", json: credentials("noah")).status == .ok)
            #expect(try await first.request(.get, "/api/me").status == .unauthorized, "the least recently used session was evicted")
            #expect(try await second.request(.get, "/api/me").status == .ok)
            #expect(try await third.request(.get, "/api/me").status == .ok)
        }
    }

    @Test func idleAndAbsoluteTimeoutsOverHTTP() async throws {
        let server = try await TestServer.make {
            $0.sessions.idleTimeout = 600
            $0.sessions.absoluteLifetime = 1800
            $0.sessions.touchInterval = 60
        }
        try await server.run { client in
            let olivia = Visitor(client)
            try await olivia.request(.post, "/api/register", json: credentials("olivia"))
            // Active every 5 minutes: the idle timeout slides...
            for _ in 0..<5 {
                server.clock.advance(by: 300)
                #expect(try await olivia.request(.get, "/api/me").status == .ok)
            }
            // ...but the absolute lifetime does not.
            server.clock.advance(by: 300)
            #expect(try await olivia.request(.get, "/api/me").status == .unauthorized)

            let paul = Visitor(client)
            try await paul.request(.post, "/api/register", json: credentials("paul"))
            server.clock.advance(by: 601)
            #expect(try await paul.request(.get, "/api/me").status == .unauthorized, "idle for longer than the idle timeout")
        }
    }

    @Test func secureModeUsesHostPrefixedSecureCookie() async throws {
        let server = try await TestServer.make {
            $0.cookie = .init(baseName: "cloakroom", secure: true)
            $0.hstsIncludeSubdomains = true
        }
        try await server.run { client in
            let v = Visitor(client, cookieName: "__Host-cloakroom")
            let response = try await v.request(.post, "/api/register", json: credentials("quinn"))
            let setCookie = try #require(v.lastSetCookie)
            #expect(setCookie.hasPrefix("__Host-cloakroom="))
            #expect(setCookie.contains("; Secure"))
            #expect(setCookie.contains("Path=/"))
            #expect(!setCookie.contains("Domain"))
            #expect(response.headers[.strictTransportSecurity] == "max-age=31536000; includeSubDomains")
            #expect(try await v.request(.get, "/api/me").status == .ok)
        }
    }

    @Test func browserSessionCookieHasNoMaxAge() async throws {
        let server = try await TestServer.make { $0.sessions.persistentCookie = false }
        try await server.run { client in
            let rose = Visitor(client)
            try await rose.request(.post, "/api/register", json: credentials("rose"))
            let setCookie = try #require(rose.lastSetCookie)
            #expect(!setCookie.contains("Max-Age"))
            #expect(!setCookie.contains("Expires"))
        }
    }
}

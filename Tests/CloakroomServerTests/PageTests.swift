import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import CloakroomServer
@testable import CloakroomSessions

/// What a browser sends for a navigation or a form post.
private let browser: HTTPFields = [.accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"]

/// The CSRF token of the first form on `page`.
private func csrf(_ page: TestResponse) throws -> String {
    let text = page.text
    let marker = #"name="csrf_token" value=""#
    let start = try #require(text.range(of: marker), "no CSRF token on the page")
    let rest = text[start.upperBound...]
    return String(rest[..<(rest.firstIndex(of: "\"") ?? rest.endIndex)])
}

/// Registers `name` through the page, as a browser does: GET the form, POST it with its token.
@discardableResult
private func register(_ visitor: Visitor, _ name: String, agent: String? = nil) async throws -> TestResponse {
    var headers = browser
    if let agent { headers[.userAgent] = agent }
    let form = try await visitor.request(.get, "/register", headers: headers)
    let response = try await visitor.request(
        .post,
        "/register",
        form: ["csrf_token": try csrf(form), "username": name, "password": goodPassword],
        headers: headers
    )
    #expect(response.status == .seeOther && response.headers[.location] == "/account", "registration: \(response.status) \(response.text)")
    return response
}

/// Signs `name` in through the page.
@discardableResult
private func signIn(_ visitor: Visitor, _ name: String, agent: String? = nil) async throws -> TestResponse {
    var headers = browser
    if let agent { headers[.userAgent] = agent }
    let form = try await visitor.request(.get, "/login", headers: headers)
    return try await visitor.request(
        .post,
        "/login",
        form: ["csrf_token": try csrf(form), "username": name, "password": goodPassword],
        headers: headers
    )
}

private func isHTML(_ response: TestResponse) -> Bool {
    response.headers[.contentType]?.hasPrefix("text/html") == true
}

@Suite("Pages over HTTP")
struct PageTests {
    // MARK: - Forms of a session that has ended

    @Test func formsOfASessionEndedElsewhereNeverShowJSON() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let a = Visitor(client)
            try await register(a, "ada")
            let b = Visitor(client)
            #expect(try await signIn(b, "ada").headers[.location] == "/account")
            let pageB = try await b.request(.get, "/account", headers: browser)
            let tokenB = try csrf(pageB)

            // A signs out everywhere else; B's open page still holds its old form.
            let pageA = try await a.request(.get, "/account", headers: browser)
            let others = try await a.request(.post, "/account/sessions/revoke-others", form: ["csrf_token": try csrf(pageA)], headers: browser)
            #expect(others.headers[.location] == "/account?notice=others")

            // Revoke on B's stale page: to sign-in, with a message.
            let deadB = b.cookie
            let revoke = try await b.request(.post, "/account/sessions/revoke", form: ["csrf_token": tokenB, "handle": "x"], headers: browser)
            #expect(revoke.status == .seeOther)
            #expect(revoke.headers[.location] == "/login?notice=ended")
            let login = try await b.request(.get, "/login?notice=ended", headers: browser)
            #expect(login.text.contains("Your session has ended"))

            // Sign out on B's stale page: it just completes.
            b.cookie = deadB
            let logout = try await b.request(.post, "/logout", form: ["csrf_token": tokenB], headers: browser)
            #expect(logout.status == .seeOther)
            #expect(logout.headers[.location] == "/")
            #expect(b.cookie == nil, "the dead cookie is expired")
            // The same from a client that does not ask for HTML: nothing to refuse either.
            let plain = Visitor(client)
            plain.cookie = deadB
            #expect(try await plain.request(.post, "/logout", form: ["csrf_token": tokenB]).status == .seeOther)
        }
    }

    @Test func formsAfterTheIdleTimeout() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let setup = Visitor(client)
            try await register(setup, "bea")

            // The sign-in page was left open longer than the idle timeout.
            let v = Visitor(client)
            let form = try await v.request(.get, "/login", headers: browser)
            let stale = try csrf(form)
            server.clock.advance(by: server.configuration.sessions.idleTimeout + 60)
            let refused = try await v.request(
                .post,
                "/login",
                form: ["csrf_token": stale, "username": "bea", "password": goodPassword],
                headers: browser
            )
            #expect(refused.status == .forbidden)
            #expect(isHTML(refused))
            #expect(refused.text.contains("The form expired; please try again."))
            #expect(refused.text.contains(#"value="bea""#), "the typed username is kept")
            let fresh = try csrf(refused)
            #expect(fresh != stale)
            let retried = try await v.request(
                .post,
                "/login",
                form: ["csrf_token": fresh, "username": "bea", "password": goodPassword],
                headers: browser
            )
            #expect(retried.headers[.location] == "/account")

            // Signed in, the account page left open past the idle timeout.
            let page = try await v.request(.get, "/account", headers: browser)
            let token = try csrf(page)
            server.clock.advance(by: server.configuration.sessions.idleTimeout + 60)
            let dead = v.cookie
            let password = try await v.request(
                .post,
                "/account/password",
                form: ["csrf_token": token, "current_password": goodPassword, "new_password": "another long password"],
                headers: browser
            )
            #expect(password.status == .seeOther)
            #expect(password.headers[.location] == "/login?notice=ended")
            v.cookie = dead
            let logout = try await v.request(.post, "/logout", form: ["csrf_token": token], headers: browser)
            #expect(logout.status == .seeOther && logout.headers[.location] == "/")
        }
    }

    @Test("past 5 minutes, the account page asks for the password to end other sessions")
    func endingOtherSessionsAsksForThePasswordLater() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let a = Visitor(client)
            try await register(a, "gus")
            let b = Visitor(client)
            try await signIn(b, "gus")
            #expect(
                !(try await a.request(.get, "/account", headers: browser)).text.contains("name=\"password\" required"),
                "no password asked just after signing in"
            )
            server.clock.advance(by: 301)
            let page = try await a.request(.get, "/account", headers: browser)
            #expect(page.text.contains("name=\"password\" required"))
            let refused = try await a.request(.post, "/account/sessions/revoke-others", form: ["csrf_token": try csrf(page)], headers: browser)
            #expect(refused.headers[.location] == "/account")
            #expect(try await b.request(.get, "/api/me").status == .ok, "nothing ended without the password")
            let again = try await a.request(.get, "/account", headers: browser)
            #expect(again.text.contains("Enter your password to end other sessions."))
            let wrong = try await a.request(
                .post,
                "/account/sessions/revoke-others",
                form: ["csrf_token": try csrf(again), "password": "not the password"],
                headers: browser
            )
            #expect(wrong.headers[.location] == "/account")
            #expect(try await b.request(.get, "/api/me").status == .ok)
            let third = try await a.request(.get, "/account", headers: browser)
            #expect(third.text.contains("Your password is incorrect; no session was ended."))
            let done = try await a.request(
                .post,
                "/account/sessions/revoke-others",
                form: ["csrf_token": try csrf(third), "password": goodPassword],
                headers: browser
            )
            #expect(done.headers[.location] == "/account?notice=others")
            #expect(try await b.request(.get, "/api/me").status == .unauthorized)
        }
    }

    @Test func aForgedFormStillChangesNothing() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let v = Visitor(client)
            try await register(v, "cyd")
            // A client that does not ask for HTML: 403 JSON, as before.
            let plain = try await v.request(.post, "/logout", form: ["csrf_token": "guess"])
            #expect(plain.status == .forbidden)
            #expect(plain.errorCode == "csrf_token_invalid")
            // A browser: back to the account page, still signed in, with a message and a fresh form.
            let stale = try await v.request(.post, "/account/sessions/revoke-others", form: ["csrf_token": "guess"], headers: browser)
            #expect(stale.status == .seeOther && stale.headers[.location] == "/account")
            let logout = try await v.request(.post, "/logout", form: [:], headers: browser)
            #expect(logout.headers[.location] == "/account")
            let page = try await v.request(.get, "/account", headers: browser)
            #expect(page.status == .ok)
            #expect(page.text.contains("The form expired; please try again."))
            #expect(!(try await v.request(.get, "/account", headers: browser)).text.contains("The form expired"), "shown once")

            // A cross-site post is refused before any form is read: an HTML 403 for a browser.
            var evil = browser
            evil[.origin] = "https://evil.example"
            let cross = try await v.request(.post, "/logout", form: ["csrf_token": try csrf(page)], headers: evil)
            #expect(cross.status == .forbidden)
            #expect(isHTML(cross))
            #expect(cross.text.contains("Request refused"))
            let crossJSON = try await v.request(.post, "/logout", form: ["csrf_token": try csrf(page)], headers: [.origin: "https://evil.example"])
            #expect(crossJSON.errorCode == "cross_origin_request")
            #expect(try await v.request(.get, "/account", headers: browser).status == .ok, "still signed in")
        }
    }

    // MARK: - Error pages

    @Test func browsersGetHTMLErrorPagesAndAPIClientsJSON() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let v = Visitor(client)
            let missing = try await v.request(.get, "/nonexistent", headers: [.accept: "text/html"])
            #expect(missing.status == .notFound)
            #expect(isHTML(missing))
            #expect(missing.text.contains("Page not found"))
            #expect(missing.text.contains(#"href="/""#))
            #expect(missing.text.contains("/assets/cloakroom.css"), "in the site's style")

            let json = try await v.request(.get, "/nonexistent")
            #expect(json.status == .notFound && json.errorCode == "not_found")
            let api = try await v.request(.get, "/api/nonexistent", headers: browser)
            #expect(api.status == .notFound && api.errorCode == "not_found", "/api/ keeps JSON")
            let refused = try await v.request(.get, "/nonexistent", headers: [.accept: "text/html;q=0, application/json"])
            #expect(refused.errorCode == "not_found")

            // A form field over 64 KiB.
            let form = try await v.request(.get, "/login", headers: browser)
            let big = try await v.request(
                .post,
                "/login",
                form: ["csrf_token": try csrf(form), "username": String(repeating: "x", count: 70_000), "password": "p"],
                headers: browser
            )
            #expect(big.status == .contentTooLarge)
            #expect(isHTML(big))
            #expect(big.text.contains("Too much data"))
            let bigJSON = try await v.request(.post, "/login", form: ["username": String(repeating: "x", count: 70_000)])
            #expect(bigJSON.errorCode == "payload_too_large")

            // A known path with a method it does not take: 405 keeps its Allow header.
            let method = try await v.request(.delete, "/login", headers: browser)
            #expect(method.status == .methodNotAllowed)
            #expect(isHTML(method))
            #expect(method.text.contains("Method not allowed"))
            #expect(method.headers[.allow] != nil)
        }
    }

    // MARK: - Registration closed

    @Test func closedRegistrationHidesTheLinksAndTheForm() async throws {
        let server = try await TestServer.make { $0.registrationOpen = false }
        try await server.run { client in
            let v = Visitor(client)
            for path in ["/", "/login"] {
                let page = try await v.request(.get, path, headers: browser)
                #expect(!page.text.contains(#"href="/register""#), "\(path) links to /register")
            }
            let register = try await v.request(.get, "/register", headers: browser)
            #expect(register.status == .ok)
            #expect(register.text.contains("Registration is closed"))
            #expect(!register.text.contains(#"action="/register""#))
            let post = try await v.request(.post, "/register", form: ["username": "dee", "password": goodPassword], headers: browser)
            #expect(post.status == .forbidden)
            #expect(isHTML(post))
            #expect(post.text.contains("Registration is closed"))
        }
        let open = try await TestServer.make()
        try await open.run { client in
            let login = try await Visitor(client).request(.get, "/login", headers: browser)
            #expect(login.text.contains(#"href="/register""#))
        }
    }

    // MARK: - Signed out by the server

    @Test func anEndedSessionIsExplainedOnTheSignInPage() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let never = try await Visitor(client).request(.get, "/account", headers: browser)
            #expect(never.headers[.location] == "/login", "no message for a visitor who was never signed in")

            let v = Visitor(client)
            try await register(v, "eve")
            let other = Visitor(client)
            try await signIn(other, "eve")
            let page = try await other.request(.get, "/account", headers: browser)
            try await other.request(.post, "/account/sessions/revoke-others", form: ["csrf_token": try csrf(page)], headers: browser)

            let revoked = try await v.request(.get, "/account", headers: browser)
            #expect(revoked.headers[.location] == "/login?notice=ended")
            #expect(try await v.request(.get, "/login?notice=ended", headers: browser).text.contains("Your session has ended"))

            // A disabled account: the same words.
            let account = try #require(try await server.backends.accounts.account(username: "eve"))
            try await server.backends.accounts.setDisabled(id: account.id, true)
            let disabled = try await other.request(.get, "/account", headers: browser)
            #expect(disabled.headers[.location] == "/login?notice=ended")
        }
    }

    // MARK: - CSRF token rotation

    @Test func theCSRFTokenChangesAtSignInAndPasswordChange() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            try await register(Visitor(client), "fay")
            let v = Visitor(client)
            let form = try await v.request(.get, "/login", headers: browser)
            let before = try csrf(form)
            let login = try await v.request(
                .post,
                "/login",
                form: ["csrf_token": before, "username": "fay", "password": goodPassword],
                headers: browser
            )
            #expect(login.headers[.location] == "/account")
            let signedIn = try csrf(try await v.request(.get, "/account", headers: browser))
            #expect(signedIn != before)

            let changed = try await v.request(
                .post,
                "/account/password",
                form: ["csrf_token": signedIn, "current_password": goodPassword, "new_password": "a different long password"],
                headers: browser
            )
            #expect(changed.headers[.location] == "/account?notice=password")
            let after = try csrf(try await v.request(.get, "/account", headers: browser))
            #expect(after != signedIn)
            // The old token no longer works.
            let stale = try await v.request(.post, "/logout", form: ["csrf_token": signedIn])
            #expect(stale.status == .forbidden)
        }
    }

    // MARK: - Password change messages

    @Test func passwordChangeRefusalsAreClearAndReloadSafe() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let v = Visitor(client)
            try await register(v, "gus")
            func attempt(_ current: String, _ new: String) async throws -> String {
                let token = try csrf(try await v.request(.get, "/account", headers: browser))
                let post = try await v.request(
                    .post,
                    "/account/password",
                    form: ["csrf_token": token, "current_password": current, "new_password": new],
                    headers: browser
                )
                #expect(post.status == .seeOther, "redirect after POST")
                #expect(post.headers[.location]?.hasPrefix("/account") == true)
                let page = try await v.request(.get, "/account", headers: browser)
                #expect(page.status == .ok)
                return page.text
            }
            let wrong = try await attempt("not the password at all", "a brand new long password")
            #expect(wrong.contains("Your current password is incorrect."))
            #expect(!wrong.contains("username or password"))
            #expect(try await attempt("", "a brand new long password").contains("Enter your current password."))
            let short = try await attempt(goodPassword, "short")
            #expect(short.contains("Password must be at least 12 characters."))
            let same = try await attempt(goodPassword, goodPassword)
            #expect(same.contains("The new password is the same as your current one"))
            // The message is shown once: a reload is a plain GET of the account page.
            let reload = try await v.request(.get, "/account", headers: browser)
            #expect(!reload.text.contains("Your password was not changed"))
            // Nothing was changed by any of these.
            #expect(try await signIn(Visitor(client), "gus").headers[.location] == "/account")
        }
    }

    @Test func pageMessagesAreSentences() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            try await register(Visitor(client), "hal")
            let v = Visitor(client)
            let form = try await v.request(.get, "/login", headers: browser)
            let wrong = try await v.request(
                .post,
                "/login",
                form: ["csrf_token": try csrf(form), "username": "hal", "password": "not the password"],
                headers: browser
            )
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("The username or password is incorrect."))
        }
        #expect(IdentityError.throttled(retryAfter: 1, locked: false).message.contains("wait 1 second before"))
        #expect(IdentityError.throttled(retryAfter: 7, locked: false).message.contains("wait 7 seconds before"))
        #expect(IdentityError.throttled(retryAfter: 898, locked: true).message.hasSuffix("locked for about 15 minutes"))
        #expect(IdentityError.throttled(retryAfter: 60, locked: false).message.contains("wait about 1 minute before"))
        #expect(SessionError.tooManySessions(limit: 1).message.contains("already has 1 active session;"))
        #expect(SessionError.tooManySessions(limit: 3).message.contains("already has 3 active sessions;"))
    }

    // MARK: - Sessions table

    @Test func userAgentsAreCappedAndRevokeButtonsNamed() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let v = Visitor(client)
            try await register(v, "ivy", agent: "Laptop/1.0")
            try await signIn(Visitor(client), "ivy", agent: String(repeating: "A", count: 20_000))
            let records = try await #require(server.backends.sessions as? any SessionUserIndex).records(
                forUser: try #require(try await server.backends.accounts.account(username: "ivy")).id,
                now: server.clock.now()
            )
            #expect(records.count == 2)
            #expect(records.allSatisfy { ($0.userAgent?.utf8.count ?? 0) <= 512 }, "stored User-Agent capped")

            let page = try await v.request(.get, "/account", headers: browser)
            #expect(!page.text.contains(String(repeating: "A", count: 600)))
            #expect(page.text.contains(#"aria-label="Revoke the session on AAAA"#))
            #expect(page.text.contains(#"data-label="Device""#))
        }
        // On a character boundary: 400 two-byte characters keep 256 of them.
        let capped = SessionManager.capped(userAgent: String(repeating: "é", count: 400) + "x")
        #expect(capped == String(repeating: "é", count: 256))
        #expect(SessionManager.capped(userAgent: "Short/1.0") == "Short/1.0")
    }

    // MARK: - Headers and assets

    @Test func securityHeadersAndStylesheet() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let page = try await Visitor(client).request(.get, "/login", headers: browser)
            let policy = try #require(page.headers[HTTPField.Name("Permissions-Policy")!])
            for feature in ["camera=()", "microphone=()", "geolocation=()"] { #expect(policy.contains(feature)) }
            #expect(page.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] == "same-origin")
            let csp = try #require(page.headers[.contentSecurityPolicy])
            #expect(!csp.contains("unsafe-inline"))
            #expect(csp.contains("style-src 'self'"))
            #expect(!page.text.contains("<style"))
            let css = try await Visitor(client).request(.get, "/assets/cloakroom.css")
            #expect(css.status == .ok)
            #expect(css.headers[.contentType]?.hasPrefix("text/css") == true)
            #expect(css.text.contains("@media"))
        }
    }
}

@Suite("Durations on pages")
struct SpokenDurationTests {
    @Test("durations read as a person says them, never 0 min")
    func spoken() {
        #expect(PageRoutes.spoken(5) == "5 seconds")
        #expect(PageRoutes.spoken(1) == "1 second")
        #expect(PageRoutes.spoken(60) == "1 minute")
        #expect(PageRoutes.spoken(1800) == "30 minutes")
        #expect(PageRoutes.spoken(90) == "1.5 minutes")
        #expect(PageRoutes.spoken(43_200) == "12 hours")
        #expect(PageRoutes.spoken(5400) == "1.5 hours")
        #expect(PageRoutes.spoken(14 * 86_400) == "14 days")
    }
}

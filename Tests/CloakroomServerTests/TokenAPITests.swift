import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomTesting
import CloakroomTokens
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import CloakroomServer

/// Token sign-in over real HTTP: issue, Bearer, refresh rotation and reuse, revocation, JWKS,
/// cookie transport.
@Suite("Token sign-in over HTTP")
struct TokenAPITests {
    /// One JSON call with an optional Bearer token.
    @discardableResult
    static func call(
        _ client: any TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ uri: String,
        json: String? = nil,
        bearer: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        var body: ByteBuffer?
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(string: json)
        }
        return try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    /// Registers `user` (by session) and signs in with a token; returns the token response.
    static func signIn(_ client: any TestClientProtocol, _ user: String) async throws -> [String: Any] {
        let register = try await call(client, .post, "/api/register", json: credentials(user))
        #expect(register.status == .created)
        let response = try await call(client, .post, "/api/token", json: credentials(user))
        #expect(response.status == .ok, "token sign-in: \(response.text)")
        return try response.json()
    }

    static func refresh(_ client: any TestClientProtocol, _ token: String) async throws -> TestResponse {
        try await call(client, .post, "/api/token", json: #"{"grant_type":"refresh_token","refresh_token":"\#(token)"}"#)
    }

    @Test func passwordGrantIssuesABearerTokenAndARefreshToken() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            try await Self.call(client, .post, "/api/register", json: credentials("alice"))
            let response = try await Self.call(client, .post, "/api/token", json: credentials("alice"))
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            #expect(response.headers[.setCookie] == nil, "header transport sets no cookie")
            let body = try response.json()
            #expect(body["token_type"] as? String == "Bearer")
            #expect(body["expires_in"] as? Int == 600)
            let access = try #require(body["access_token"] as? String)
            let refresh = try #require(body["refresh_token"] as? String)
            #expect(Base64URL.decode(refresh)?.count == 32, "the refresh token is 256 opaque random bits")
            let decoded = try TokenVerifier.decode(access)
            #expect(decoded.headerJSON.contains(#""typ":"at+jwt""#) || decoded.headerJSON.contains(#""typ" : "at+jwt""#))
            #expect(decoded.algorithm == "EdDSA")

            let me = try await Self.call(client, .get, "/api/me", bearer: access)
            #expect(me.status == .ok, "\(me.text)")
            let meBody = try me.json()
            #expect((meBody["user"] as? [String: Any])?["username"] as? String == "alice")
            #expect(meBody["token"] != nil && meBody["session"] == nil)

            // Form-encoded (RFC 6749) works too; a wrong password is refused as OAuth clients expect
            // (400 invalid_grant with error_description, RFC 6749 section 5.2).
            let form = try await client.executeRequest(
                uri: "/api/token",
                method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "grant_type=password&username=alice&password=wrong+password+here")
            )
            #expect(form.status == .badRequest)
            #expect(form.errorCode == "invalid_grant")
            let refusal = try form.json()
            #expect(refusal["reason"] as? String == "invalid_credentials")
            #expect(refusal["error_description"] as? String == refusal["message"] as? String)
            // The refresh token is stored hashed only.
            let stored = try await server.backends.tokens.refreshToken(key: SecureToken.hash(refresh), now: server.clock.now())
            #expect(stored != nil)
            #expect(try await server.backends.tokens.refreshToken(key: refresh, now: server.clock.now()) == nil)
        }
    }

    @Test func badTokensGet401WithWWWAuthenticate() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let tokens = try await Self.signIn(client, "bob")
            let access = try #require(tokens["access_token"] as? String)
            var bytes = Array(access.utf8)
            bytes[bytes.count - 5] = bytes[bytes.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let cases: [(String, String)] = [
                (String(decoding: bytes, as: UTF8.self), "bad_signature"),
                ("not.a.token", "malformed"),
                (String(repeating: "a", count: 20_000), "too_large"),
            ]
            for (token, reason) in cases {
                let response = try await Self.call(client, .get, "/api/me", bearer: token)
                #expect(response.status == .unauthorized)
                let challenge = try #require(response.headers[.wwwAuthenticate])
                #expect(challenge.hasPrefix("Bearer error=\"invalid_token\""))
                let body = try response.json()
                #expect(body["error"] as? String == "invalid_token")
                #expect(body["reason"] as? String == reason)
            }
            let malformedHeader = try await client.executeRequest(uri: "/api/me", method: .get, headers: [.authorization: "Bearer"], body: nil)
            #expect(malformedHeader.status == .badRequest)
            // No token at all: the session path answers.
            let anonymous = try await Self.call(client, .get, "/api/me")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.errorCode == "unauthenticated")
        }
    }

    @Test func expiredAccessTokenIsRefusedAndRefreshGivesANewOne() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let tokens = try await Self.signIn(client, "carol")
            let access = try #require(tokens["access_token"] as? String)
            let refresh = try #require(tokens["refresh_token"] as? String)
            server.clock.advance(by: 600 + 31)
            let expired = try await Self.call(client, .get, "/api/me", bearer: access)
            #expect(expired.status == .unauthorized)
            #expect((try expired.json())["reason"] as? String == "expired")
            let renewed = try await Self.refresh(client, refresh)
            #expect(renewed.status == .ok, "\(renewed.text)")
            let next = try #require((try renewed.json())["access_token"] as? String)
            #expect(try await Self.call(client, .get, "/api/me", bearer: next).status == .ok)
        }
    }

    @Test func refreshRotatesAndReuseRevokesTheFamily() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let tokens = try await Self.signIn(client, "dave")
            let first = try #require(tokens["refresh_token"] as? String)
            let firstAccess = try #require(tokens["access_token"] as? String)
            // Another sign-in of the same user, which reuse in the first must not touch.
            let otherSignIn = try (try await Self.call(client, .post, "/api/token", json: credentials("dave"))).json()
            let otherAccess = try #require(otherSignIn["access_token"] as? String)
            let otherRefresh = try #require(otherSignIn["refresh_token"] as? String)
            let second = try await Self.refresh(client, first)
            #expect(second.status == .ok)
            let secondBody = try second.json()
            let secondRefresh = try #require(secondBody["refresh_token"] as? String)
            let secondAccess = try #require(secondBody["access_token"] as? String)
            #expect(secondRefresh != first, "each refresh returns a new refresh token")
            let third = try await Self.refresh(client, secondRefresh)
            #expect(third.status == .ok)
            let thirdBody = try third.json()
            let thirdRefresh = try #require(thirdBody["refresh_token"] as? String)
            let thirdAccess = try #require(thirdBody["access_token"] as? String)
            #expect(try await Self.call(client, .get, "/api/me", bearer: thirdAccess).status == .ok)

            // An attacker replays the first (already used) refresh token: reuse detected.
            let replay = try await Self.refresh(client, first)
            #expect(replay.status == .badRequest)
            #expect(replay.errorCode == "invalid_grant")
            #expect((try replay.json())["reason"] as? String == "reused")
            // The whole family is gone: the legitimate client's newest refresh token fails too,
            let legit = try await Self.refresh(client, thirdRefresh)
            #expect(legit.status == .badRequest)
            #expect((try legit.json())["reason"] as? String == "invalid")
            // and so does every access token of the sign-in (its sid is denied), the newest included.
            for access in [thirdAccess, secondAccess, firstAccess] {
                let refused = try await Self.call(client, .get, "/api/me", bearer: access)
                #expect(refused.status == .unauthorized)
                let body = try refused.json()
                #expect(body["reason"] as? String == "revoked")
                #expect((body["message"] as? String)?.contains("sign-in") == true, "\(body)")
            }
            // Until the last of them has expired, however the clock moves.
            server.clock.advance(by: 600 + 29)
            #expect((try (try await Self.call(client, .get, "/api/me", bearer: thirdAccess)).json())["reason"] as? String == "revoked")
            // The user's other sign-in keeps working, access and refresh token alike.
            #expect(try await Self.call(client, .get, "/api/me", bearer: otherAccess).status == .ok)
            #expect(try await Self.refresh(client, otherRefresh).status == .ok)

            let garbage = try await Self.refresh(client, "not-a-token")
            #expect(garbage.status == .badRequest)
            #expect(garbage.errorCode == "invalid_grant")
            let unsupported = try await Self.call(client, .post, "/api/token", json: #"{"grant_type":"client_credentials"}"#)
            #expect(unsupported.errorCode == "unsupported_grant_type")
        }
    }

    @Test func bearerLogoutRevokesEveryAccessTokenOfTheSignInOnly() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let tokens = try await Self.signIn(client, "gale")
            let firstAccess = try #require(tokens["access_token"] as? String)
            let refresh = try #require(tokens["refresh_token"] as? String)
            let renewed = try (try await Self.refresh(client, refresh)).json()
            let secondAccess = try #require(renewed["access_token"] as? String)
            let other = try (try await Self.call(client, .post, "/api/token", json: credentials("gale"))).json()
            let otherAccess = try #require(other["access_token"] as? String)
            let otherRefresh = try #require(other["refresh_token"] as? String)

            let logout = try await Self.call(client, .post, "/api/logout", json: "{}", bearer: secondAccess)
            #expect(logout.status == .noContent)
            for access in [secondAccess, firstAccess] {
                let refused = try await Self.call(client, .get, "/api/me", bearer: access)
                #expect(refused.status == .unauthorized)
                #expect((try refused.json())["reason"] as? String == "revoked", "\(refused.text)")
                #expect(refused.headers[.wwwAuthenticate]?.contains("revoked") == true)
            }
            // The other sign-in of the same user is not signed out.
            #expect(try await Self.call(client, .get, "/api/me", bearer: otherAccess).status == .ok)
            #expect(try await Self.refresh(client, otherRefresh).status == .ok)
        }
    }

    @Test func signOutEverywhereRefusesOlderAccessTokensThroughTheEpoch() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let phone = try await Self.signIn(client, "erin")
            let laptop = try await Self.call(client, .post, "/api/token", json: credentials("erin"))
            let phoneAccess = try #require(phone["access_token"] as? String)
            let phoneRefresh = try #require(phone["refresh_token"] as? String)
            let laptopAccess = try #require((try laptop.json())["access_token"] as? String)
            server.clock.advance(by: 1)

            // A token caller gives its password to end other sign-ins (ASVS 7.5.2).
            let bare = try await Self.call(client, .delete, "/api/sessions", bearer: laptopAccess)
            #expect(bare.errorCode == "reauthentication_required")
            let everywhere = try await Self.call(
                client,
                .delete,
                "/api/sessions",
                json: #"{"password":"\#(goodPassword)"}"#,
                bearer: laptopAccess
            )
            #expect(everywhere.status == .ok)
            let everywhereBody = try everywhere.json()
            #expect(everywhereBody["refreshTokensRevoked"] as? Int == 2)
            for access in [phoneAccess, laptopAccess] {
                let refused = try await Self.call(client, .get, "/api/me", bearer: access)
                #expect(refused.status == .unauthorized)
                let body = try refused.json()
                #expect(body["reason"] as? String == "revoked")
                #expect((body["message"] as? String)?.contains("signed out everywhere, changed password or was disabled") == true, "\(body)")
            }
            #expect(try await Self.refresh(client, phoneRefresh).status == .badRequest)
            // Signing in again afterwards works: new tokens carry the new epoch.
            server.clock.advance(by: 1)
            let again = try await Self.call(client, .post, "/api/token", json: credentials("erin"))
            let fresh = try #require((try again.json())["access_token"] as? String)
            #expect(try await Self.call(client, .get, "/api/me", bearer: fresh).status == .ok)
        }
    }

    @Test func passwordChangeEndsOtherTokensAndSessions() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let frank = Visitor(client)
            try await frank.request(.post, "/api/register", json: credentials("frank"))
            let tokens = try await Self.call(client, .post, "/api/token", json: credentials("frank"))
            let access = try #require((try tokens.json())["access_token"] as? String)
            let oldCookie = frank.cookie
            server.clock.advance(by: 1)

            let wrong = try await frank.request(
                .post,
                "/api/password",
                json: #"{"current_password":"not my password!","new_password":"a whole new passphrase"}"#
            )
            #expect(wrong.status == .unauthorized)
            #expect(try await Self.call(client, .get, "/api/me", bearer: access).status == .ok, "a failed change revokes nothing")

            let change = try await frank.request(
                .post,
                "/api/password",
                json: #"{"current_password":"\#(goodPassword)","new_password":"a whole new passphrase"}"#
            )
            #expect(change.status == .noContent, "\(change.text)")
            #expect(frank.cookie != oldCookie, "the session ID is regenerated")
            #expect(try await frank.request(.get, "/api/me").status == .ok, "the changing session stays signed in")
            let refused = try await Self.call(client, .get, "/api/me", bearer: access)
            #expect((try refused.json())["reason"] as? String == "revoked")
            #expect(try await Self.call(client, .post, "/api/token", json: credentials("frank")).status == .badRequest, "old password: invalid_grant")
            #expect(try await Self.call(client, .post, "/api/token", json: credentials("frank", "a whole new passphrase")).status == .ok)
        }
    }

    @Test func logoutAndRevocationEndpoint() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let tokens = try await Self.signIn(client, "gina")
            let access = try #require(tokens["access_token"] as? String)
            let refresh = try #require(tokens["refresh_token"] as? String)
            let logout = try await Self.call(client, .post, "/api/logout", json: "{}", bearer: access)
            #expect(logout.status == .noContent)
            let after = try await Self.call(client, .get, "/api/me", bearer: access)
            #expect((try after.json())["reason"] as? String == "revoked", "the jti is on the deny-list")
            #expect(try await Self.refresh(client, refresh).status == .badRequest, "sign-out revoked the family (sid)")

            // RFC 7009: revoke a refresh token, then an access token; unknown tokens also get 200.
            let second = try await Self.call(client, .post, "/api/token", json: credentials("gina"))
            let secondBody = try second.json()
            let secondAccess = try #require(secondBody["access_token"] as? String)
            let secondRefresh = try #require(secondBody["refresh_token"] as? String)
            let third = try await Self.call(client, .post, "/api/token", json: credentials("gina"))
            let thirdAccess = try #require((try third.json())["access_token"] as? String)
            #expect(try await Self.call(client, .post, "/api/token/revoke", json: #"{"token":"\#(secondRefresh)"}"#).status == .ok)
            #expect(try await Self.refresh(client, secondRefresh).status == .badRequest)
            // Revoking the refresh token ends its sign-in: its access token is refused too,
            let afterRevoke = try await Self.call(client, .get, "/api/me", bearer: secondAccess)
            #expect(afterRevoke.status == .unauthorized)
            #expect((try afterRevoke.json())["reason"] as? String == "revoked")
            // not another sign-in's.
            #expect(try await Self.call(client, .get, "/api/me", bearer: thirdAccess).status == .ok)
            #expect(try await Self.call(client, .post, "/api/token/revoke", json: #"{"token":"\#(thirdAccess)"}"#).status == .ok)
            #expect(try await Self.call(client, .get, "/api/me", bearer: thirdAccess).status == .unauthorized)
            #expect(try await Self.call(client, .post, "/api/token/revoke", json: #"{"token":"whatever"}"#).status == .ok)
            #expect(try await Self.call(client, .post, "/api/token/revoke", json: "{}").status == .badRequest)
        }
    }

    @Test func disabledAccountLosesItsTokens() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let tokens = try await Self.signIn(client, "hank")
            let access = try #require(tokens["access_token"] as? String)
            let refresh = try #require(tokens["refresh_token"] as? String)
            let services = AppServices(
                configuration: server.configuration,
                backends: server.backends,
                keyRing: server.keyRing,
                clock: server.clock,
                logger: .init(label: "test")
            )
            let account = try #require(try await server.backends.accounts.account(username: "hank"))
            server.clock.advance(by: 1)
            _ = try await services.setDisabled(account, true)
            #expect(try await Self.call(client, .get, "/api/me", bearer: access).status == .unauthorized)
            #expect(try await Self.refresh(client, refresh).status == .badRequest)
        }
    }

    @Test func jwksPublishesThePublicKeysWithCaching() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let tokens = try await Self.signIn(client, "ivy")
            let access = try #require(tokens["access_token"] as? String)
            let kid = try #require(try TokenVerifier.decode(access).kid)
            let response = try await Self.call(client, .get, "/.well-known/jwks.json")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/jwk-set+json")
            #expect(response.headers[.cacheControl] == "public, max-age=300")
            let keys = try #require((try response.json())["keys"] as? [[String: Any]])
            #expect(keys.map { $0["kid"] as? String }.contains(kid))
            #expect(keys.allSatisfy { $0["d"] == nil && $0["k"] == nil }, "no private or symmetric material")
            let etag = try #require(response.headers[.eTag])
            let cached = try await Self.call(client, .get, "/.well-known/jwks.json", headers: [.ifNoneMatch: etag])
            #expect(cached.status == .notModified)

            // Rotation: the JWKS has the new key at once, but it signs only from its activation
            // time (6 minutes on); then new tokens use it, and the old token still verifies.
            let rotated = try await server.keyRing.rotate()
            let after = try await Self.call(client, .get, "/.well-known/jwks.json", headers: [.ifNoneMatch: etag])
            #expect(after.status == .ok)
            let kids = Set(((try after.json())["keys"] as? [[String: Any]] ?? []).compactMap { $0["kid"] as? String })
            #expect(kids == [kid, rotated.kid])
            let early = try await Self.call(client, .post, "/api/token", json: credentials("ivy"))
            #expect(try TokenVerifier.decode(try #require((try early.json())["access_token"] as? String)).kid == kid)
            server.clock.advance(by: 360)
            let next = try await Self.call(client, .post, "/api/token", json: credentials("ivy"))
            let nextAccess = try #require((try next.json())["access_token"] as? String)
            #expect(try TokenVerifier.decode(nextAccess).kid == rotated.kid)
            #expect(try await Self.call(client, .get, "/api/me", bearer: access).status == .ok)
            #expect(try await Self.call(client, .get, "/api/me", bearer: nextAccess).status == .ok)
        }
    }

    @Test func cookieTransportKeepsTokensOutOfScriptsAndChecksCSRF() async throws {
        let server = try await TestServer.make { $0.tokens.transport = .cookie }
        try await server.run { client in
            try await Self.call(client, .post, "/api/register", json: credentials("jack"))
            let response = try await Self.call(client, .post, "/api/token", json: credentials("jack"))
            #expect(response.status == .ok)
            let body = try response.json()
            #expect(body["access_token"] == nil && body["refresh_token"] == nil, "tokens travel only in cookies")
            let cookies = response.headers[values: .setCookie].compactMap { SetCookieParser.parse($0) }
            let access = try #require(cookies.first { $0.name == "cloakroom-at" })
            let refresh = try #require(cookies.first { $0.name == "cloakroom-rt" })
            #expect(access.httpOnly && refresh.httpOnly)
            #expect(access.sameSite == .lax && refresh.sameSite == .lax)
            #expect(refresh.path == "/api/token", "the refresh cookie goes only to the token endpoint")

            let me = try await Self.call(client, .get, "/api/me", headers: [.cookie: "cloakroom-at=\(access.value)"])
            #expect(me.status == .ok, "\(me.text)")
            // A cross-site form post carrying the cookie is refused (no JSON content type, no custom header).
            let forged = try await client.executeRequest(
                uri: "/api/token",
                method: .post,
                headers: [.cookie: "cloakroom-rt=\(refresh.value)", .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "grant_type=refresh_token")
            )
            #expect(forged.status == .forbidden)
            #expect(forged.errorCode == "csrf_header_missing")
            #expect((try forged.json())["error_description"] is String, "the token endpoint's CSRF refusal has the OAuth shape too")
            // The page's own script refreshes with the cookie and a JSON body.
            let renewed = try await Self.call(
                client,
                .post,
                "/api/token",
                json: #"{"grant_type":"refresh_token"}"#,
                headers: [.cookie: "cloakroom-rt=\(refresh.value)"]
            )
            #expect(renewed.status == .ok, "\(renewed.text)")
            let renewedCookies = renewed.headers[values: .setCookie].compactMap { SetCookieParser.parse($0) }
            let nextAccess = try #require(renewedCookies.first { $0.name == "cloakroom-at" })
            let logout = try await Self.call(client, .post, "/api/logout", json: "{}", headers: [.cookie: "cloakroom-at=\(nextAccess.value)"])
            #expect(logout.status == .noContent)
            let cleared = logout.headers[values: .setCookie].compactMap { SetCookieParser.parse($0) }
            #expect(Set(cleared.filter { ($0.maxAge ?? 1) <= 0 }.map(\.name)) == ["cloakroom-at", "cloakroom-rt"])
            let afterLogout = try await Self.call(client, .get, "/api/me", headers: [.cookie: "cloakroom-at=\(nextAccess.value)"])
            #expect(afterLogout.status == .unauthorized)
        }
    }
}

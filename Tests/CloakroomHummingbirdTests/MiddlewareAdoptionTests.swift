import CloakroomHummingbird
import CloakroomSessions
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The README's example: another Hummingbird app adopting `SessionMiddleware`, over real HTTP.
@Suite("SessionMiddleware in another app")
struct MiddlewareAdoptionTests {
    @Test func readmeExampleCountsPerSessionAndRotatesOnLogin() async throws {
        let manager = SessionManager(store: MemorySessionStore(), configuration: .init(keptAtSignIn: ["count"]))
        let router = Router(context: CloakroomRequestContext.self)
        router.add(middleware: SessionMiddleware(manager: manager))
        router.get("/count") { _, context -> String in
            let session = try context.requireSession()
            let count = (Int(session.value(forKey: "count") ?? "0") ?? 0) + 1
            session.setValue("\(count)", forKey: "count")
            return "\(count)"
        }
        router.post("/login") { _, context -> String in
            try await manager.signIn(try context.requireSession(), userID: "user-42")
            return "ok"
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { (client: any TestClientProtocol) async throws -> Void in
            let visitor = Visitor(client)
            #expect(try await visitor.request(.get, "/count").text == "1")
            #expect(try await visitor.request(.get, "/count").text == "2")
            let before = visitor.cookieValue
            #expect(try await visitor.request(.post, "/login").text == "ok")
            #expect(visitor.cookieValue != before, "sign-in rotates the ID")
            #expect(try await visitor.request(.get, "/count").text == "3", "data carried over")
            #expect(try await Visitor(client).request(.get, "/count").text == "1", "another visitor has their own session")
        }
    }
}

/// The README's token example: an app issuing tokens with `TokenService`, and a separate resource
/// server that trusts them through the issuer's JWKS.
@Suite("BearerTokenMiddleware in another app")
struct BearerAdoptionTests {
    @Test func readmeTokenExample() async throws {
        let ring = TokenKeyRing()
        try await ring.generate()
        let tokens = TokenService(
            issuer: AccessTokenIssuer(keyRing: ring, configuration: .init(issuer: "https://auth.example")),
            verifier: TokenVerifier(keys: ring, configuration: .init(issuer: "https://auth.example", audience: "https://api.example")),
            store: MemoryTokenStore(),  // or SQLiteTokenStore / PostgresTokenStore / RedisTokenStore
            configuration: .init(audience: "https://api.example")
        )
        let router = Router(context: CloakroomRequestContext.self)
        router.add(middleware: BearerTokenMiddleware(service: tokens))
        router.post("/token") { _, _ -> String in
            try await tokens.signIn(userID: "user-42").accessToken  // after checking credentials
        }
        router.get("/whoami") { _, context -> String in
            guard let claims = context.accessToken else { throw HTTPError(.unauthorized) }
            return claims.subject
        }

        // Elsewhere, an API that only verifies: keys from the issuer's /.well-known/jwks.json.
        let jwks = try await VerificationKeySet.load(jwkJSON: Data(await ring.jwks().utf8))
        let api = Router(context: CloakroomRequestContext.self)
        api.add(
            middleware: BearerTokenMiddleware(
                verifier: TokenVerifier(keys: jwks, configuration: .init(issuer: "https://auth.example", audience: "https://api.example"))
            )
        )
        api.get("/whoami") { _, context -> String in context.accessToken?.subject ?? "nobody" }

        let issuerApp = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let token = try await issuerApp.test(.live) { (client: any TestClientProtocol) async throws -> String in
            let token = String(buffer: try await client.executeRequest(uri: "/token", method: .post, headers: [:], body: nil).body)
            let me = try await client.executeRequest(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(token)"], body: nil)
            #expect(String(buffer: me.body) == "user-42")
            let none = try await client.executeRequest(uri: "/whoami", method: .get, headers: [:], body: nil)
            #expect(none.status == .unauthorized)
            return token
        }
        let apiApp = Application(router: api, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await apiApp.test(.live) { (client: any TestClientProtocol) async throws -> Void in
            let me = try await client.executeRequest(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(token)"], body: nil)
            #expect(String(buffer: me.body) == "user-42")
            let forged = try await client.executeRequest(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(token)x"], body: nil)
            #expect(forged.status == .unauthorized)
            #expect(forged.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
        }
    }
}

import CloakroomHummingbird
import CloakroomSessions
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The README's example: another Hummingbird app adopting `SessionMiddleware`, over real HTTP.
@Suite("SessionMiddleware in another app")
struct MiddlewareAdoptionTests {
    @Test func readmeExampleCountsPerSessionAndRotatesOnLogin() async throws {
        let manager = SessionManager(store: MemorySessionStore())
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
            let before = visitor.cookie
            #expect(try await visitor.request(.post, "/login").text == "ok")
            #expect(visitor.cookie != before, "sign-in rotates the ID")
            #expect(try await visitor.request(.get, "/count").text == "3", "data carried over")
            #expect(try await Visitor(client).request(.get, "/count").text == "1", "another visitor has their own session")
        }
    }
}

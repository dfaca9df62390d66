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

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The stores a server can be started on in tests; each is a real backend.
enum TestStore: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqlite, file, postgres, redis

    var testDescription: String { rawValue }

    /// A fresh store of this kind, with the real server it needs started; `cleanup` stops it.
    func location() async throws -> (location: StoreLocation, cleanup: @Sendable () async -> Void) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-\(rawValue)-\(UUID().uuidString)")
        switch self {
        case .memory: return (.memory, {})
        case .sqlite: return (.sqlite(path: base.path + ".sqlite"), { try? FileManager.default.removeItem(atPath: base.path + ".sqlite") })
        case .file: return (.file(directory: base.path), { try? FileManager.default.removeItem(at: base) })
        case .postgres:
            let server = try await PostgresTestServer.launch()
            return (.postgres(url: server.url), { await server.cleanup() })
        case .redis:
            let server = try await RedisTestServer.start()
            return (.redis(url: server.url), { await server.shutdown() })
        }
    }
}

@Suite("Session data API")
struct SessionDataTests {
    @Test("100 parallel PUTs of distinct keys to one session all survive", arguments: TestStore.allCases)
    func parallelPutsLoseNothing(_ store: TestStore) async throws {
        let (location, cleanup) = try await store.location()
        do {
            try await parallelPuts(location)
        } catch {
            await cleanup()
            throw error
        }
        await cleanup()
    }

    func parallelPuts(_ location: StoreLocation) async throws {
        let server = try await TestServer.make(store: location, accounts: .memory) { $0.sessions.maxDataKeys = 200 }
        try await server.run { client in
            let v = Visitor(client)
            let first = try await v.request(.put, "/api/session/data/seed", json: #"{"n":-1}"#)
            #expect(first.status == .ok)
            let cookie = try #require(v.cookie)
            let port = try #require(client.port)
            // 100 requests at once on 100 connections (URLSession), each with a generous timeout:
            // the point is concurrency on one session, not speed on a loaded CI machine.
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpMaximumConnectionsPerHost = 100
            configuration.timeoutIntervalForRequest = 60
            let urlSession = URLSession(configuration: configuration)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/session/data/k\(i)")!)
                        request.httpMethod = "PUT"
                        request.setValue("cloakroom=\(cookie)", forHTTPHeaderField: "Cookie")
                        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                        request.httpBody = Data(#"{"n":\#(i)}"#.utf8)
                        let (_, response) = try await urlSession.data(for: request)
                        return (response as? HTTPURLResponse)?.statusCode ?? -1
                    }
                }
                for try await status in group { #expect(status == 200) }
            }
            let all = try await v.request(.get, "/api/session/data")
            struct Entry: Decodable { let n: Int }
            struct All: Decodable { let data: [String: Entry] }
            let data = try JSONDecoder().decode(All.self, from: Data(all.text.utf8)).data
            var missing: [Int] = []
            for index in 0..<100 where data["k" + String(index)]?.n != index { missing.append(index) }
            #expect(missing.isEmpty, "lost keys: \(missing.prefix(3)); k0=\(String(describing: data["k0"]?.n)) keys=\(data.keys.sorted().prefix(3))")
            #expect(data.count == 101)
        }
        try await server.backends.close()
    }

    @Test func putGetDeleteAndValidation() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let v = Visitor(client)
            #expect(try await v.request(.get, "/api/session/data/cart").status == .notFound)
            #expect(v.cookie == nil, "reading creates no session")
            let put = try await v.request(.put, "/api/session/data/cart", json: #" {"items":[1,2,3]} "#)
            #expect(put.status == .ok)
            #expect(v.cookie != nil, "a first PUT creates the session lazily")
            let get = try await v.request(.get, "/api/session/data/cart")
            #expect(get.status == .ok)
            #expect(((try get.json())["value"] as? [String: Any])?["items"] as? [Int] == [1, 2, 3])
            #expect(try await v.request(.put, "/api/session/data/theme", json: #""dark""#).status == .ok)
            #expect(try await v.request(.delete, "/api/session/data/cart", headers: [HTTPField.Name("X-Requested-With")!: "x"]).status == .noContent)
            #expect(try await v.request(.get, "/api/session/data/cart").status == .notFound)
            let everything = try await v.request(.get, "/api/session/data")
            #expect((try everything.json()["data"] as? [String: Any])?["theme"] as? String == "dark")

            for bad in ["_csrf", "a%20b", String(repeating: "k", count: 65), "semi;colon"] {
                let r = try await v.request(.put, "/api/session/data/\(bad)", json: "1")
                #expect(r.status == .badRequest, "\(bad)")
                #expect(r.errorCode == "invalid_request")
            }
            let notJSON = try await v.request(.put, "/api/session/data/x", json: "{nope")
            #expect(notJSON.status == .badRequest)
            #expect(notJSON.errorCode == "invalid_json")
            // Strict RFC 8259, since the value is echoed as sent: what lenient parsers accept is refused.
            for lenient in [#"{"a":1,}"#, "[1,2,]", "\u{FEFF}{\"a\":1}", #"{"a":1,"a":2}"#, "1 2", "NaN"] {
                let refused = try await v.request(.put, "/api/session/data/x", json: lenient)
                #expect(refused.status == .badRequest, "\(lenient.debugDescription): \(refused.text)")
                #expect(refused.errorCode == "invalid_json")
            }
            for strict in ["[1,2]", #""text""#, " {\"a\": [true, null, 1.5e3]} ", "0"] {
                let stored = try await v.request(.put, "/api/session/data/x", json: strict)
                #expect(stored.status == .ok, "\(strict.debugDescription): \(stored.text)")
                #expect((try? stored.json()) != nil || strict == #""text""# || strict == "0", "the echo is valid JSON: \(stored.text)")
            }
            let wrongType = try await v.request(
                .put,
                "/api/session/data/x",
                headers: [.contentType: "text/plain", HTTPField.Name("X-Requested-With")!: "x"]
            )
            #expect(wrongType.status == .unsupportedMediaType)
        }
    }

    @Test func limitsAnswer413AndKeepTheSession() async throws {
        let server = try await TestServer.make {
            $0.sessions.maxDataKeys = 5
            $0.sessions.maxDataBytes = 2000
        }
        try await server.run { client in
            let v = Visitor(client)
            for i in 0..<4 { #expect(try await v.request(.put, "/api/session/data/k\(i)", json: "\(i)").status == .ok) }
            // The session holds a CSRF-free anonymous session: 4 keys; a 5th fits, a 6th does not.
            #expect(try await v.request(.put, "/api/session/data/k4", json: "4").status == .ok)
            let tooMany = try await v.request(.put, "/api/session/data/k5", json: "5")
            #expect(tooMany.status == .contentTooLarge)
            #expect(tooMany.errorCode == "payload_too_large")
            let tooBig = try await v.request(.put, "/api/session/data/k0", json: "\"" + String(repeating: "x", count: 2500) + "\"")
            #expect(tooBig.status == .contentTooLarge)
            let huge = try await v.request(.put, "/api/session/data/k0", json: "\"" + String(repeating: "x", count: 9000) + "\"")
            #expect(huge.status == .contentTooLarge)
            let data = try #require(((try await v.request(.get, "/api/session/data")).json())["data"] as? [String: Any])
            #expect(data.count == 5, "nothing lost by the refused writes")
            #expect(data["k0"] as? Int == 0)
        }
    }
}

import CloakroomCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import CloakroomServer

/// The API contract (docs/openapi.json) is what the server serves, and it names every JSON route
/// the router has (issue 10, "The API contract"). Schemathesis checks it against the live server
/// in tests/e2e/test_openapi.py.
@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    static let file = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/openapi.json")

    static func document() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: file))
        return try #require(object as? [String: Any])
    }

    @Test("the served document is docs/openapi.json byte for byte (run scripts/openapi after editing it)")
    func servedDocumentIsTheFile() async throws {
        let text = try String(contentsOf: Self.file, encoding: .utf8)
        #expect(OpenAPIDocument.json + "\n" == text, "OpenAPIDocument.swift is stale: run scripts/openapi")
        let server = try await TestServer.make()
        try await server.run { client in
            let response = try await client.executeRequest(uri: "/openapi.json", method: .get, headers: [:], body: nil)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            #expect(String(buffer: response.body) == text)
        }
    }

    @Test("every JSON route of the router, with its method, is in the document")
    func everyRouteIsDocumented() async throws {
        let paths = try #require(try Self.document()["paths"] as? [String: [String: Any]])
        let server = try await TestServer.make()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let services = AppServices(configuration: server.configuration, backends: server.backends, logger: logger)
        let router = try CloakroomApplication.router(services: services)
        var checked = 0
        for route in router.routes {
            let path = route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                .joined(separator: "/")
            let documented = "/" + path
            guard documented.hasPrefix("/api/") || documented.hasPrefix("/.well-known/") || documented == "/healthz" || documented == "/openapi.json"
            else { continue }
            let operations = paths[documented]
            #expect(operations != nil, "\(documented) is not in docs/openapi.json")
            #expect(operations?[route.method.rawValue.lowercased()] != nil, "\(route.method) \(documented) is not in docs/openapi.json")
            checked += 1
        }
        #expect(checked >= 14, "only \(checked) routes were checked")
    }
}

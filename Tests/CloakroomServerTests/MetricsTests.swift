import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CloakroomServer

/// `GET /metrics` (issue 12): what a node did, in the Prometheus text format, over real HTTP on a
/// real SQLite file; and who may read it.
@Suite("Prometheus metrics")
struct MetricsTests {
    @Test("requests, sessions, store operations and throttle refusals are counted as they happen")
    func countsWhatHappened() async throws {
        let path = TemporaryFile.path("metrics")
        defer { TemporaryFile.remove(path) }
        let server = try await TestServer.make(store: .sqlite(path: path)) { $0.sessions.idleTimeout = 600 }
        let clock = server.clock
        try await server.run { (client: any TestClientProtocol) async throws -> Void in
            let alice = Visitor(client)
            #expect(try await alice.request(.post, "/api/register", json: credentials("alice")).status == .created)
            for _ in 0..<3 { #expect(try await alice.request(.get, "/api/me").status == .ok) }
            let stranger = Visitor(client)
            #expect(try await stranger.request(.get, "/api/me").status == .unauthorized)
            // Wrong passwords: 3 free failures, then the account waits (a "delayed" refusal).
            let guesser = Visitor(client)
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<5 {
                statuses.append(try await guesser.request(.post, "/api/login", json: credentials("alice", "wrong password here")).status)
            }
            #expect(statuses.contains(.tooManyRequests), "\(statuses)")
            // Alice's session idles out: her next request finds it expired.
            clock.advance(by: 601)
            #expect(try await alice.request(.get, "/api/me").status == .unauthorized)

            let response = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(response.headers[.cacheControl] == "no-store")
            let figures = Self.parse(response.text)
            #expect(figures[#"cloakroom_http_requests_total{method="GET",route="/api/me",status="200"}"#] == 3)
            #expect(figures[#"cloakroom_http_requests_total{method="GET",route="/api/me",status="401"}"#] == 2)
            #expect(figures[#"cloakroom_http_requests_total{method="POST",route="/api/register",status="201"}"#] == 1)
            #expect(figures[#"cloakroom_http_request_duration_seconds_count{method="GET",route="/api/me"}"#] == 5)
            #expect(figures["cloakroom_sessions_created_total"] == 1)
            #expect(figures["cloakroom_sessions_loaded_total"] == 3)
            // The store no longer returns an idled-out record: the cookie names no live session.
            #expect(figures["cloakroom_sessions_not_found_total"] == 1)
            #expect(figures[#"cloakroom_store_operations_total{store="sqlite",operation="insert"}"#] == 1)
            #expect((figures[#"cloakroom_store_operations_total{store="sqlite",operation="load"}"#] ?? 0) >= 4)
            #expect(figures[#"cloakroom_store_errors_total{store="sqlite",operation="load"}"#] == 0)
            #expect((figures[#"cloakroom_throttle_events_total{kind="delayed"}"#] ?? 0) >= 1)
            // An unknown path is one series, whatever the path: a scan cannot grow the series.
            for path in ["/nope-1", "/nope-2"] {
                #expect(try await client.executeRequest(uri: path, method: .get, headers: [:], body: nil).status == .notFound)
            }
            let after = Self.parse(try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil).text)
            #expect(
                after[#"cloakroom_http_requests_total{method="GET",route="unmatched",status="404"}"#] == 2,
                "\(after.keys.filter { $0.hasPrefix("cloakroom_http_requests_total") })"
            )
            #expect(!after.keys.contains { $0.contains("nope") }, "\(after.keys.filter { $0.contains("404") })")
        }
        try await server.backends.close()
    }

    @Test("served to loopback by default; behind a trusted proxy the forwarded client is the one checked")
    func onlyAllowedClients() async throws {
        let server = try await TestServer.make {
            $0.trustedProxies = ["127.0.0.0/8", "::1"].compactMap(IPAddressRange.init)
        }
        try await server.run { (client: any TestClientProtocol) async throws -> Void in
            #expect(try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil).status == .ok)
            let forwarded: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"]
            let refused = try await client.executeRequest(uri: "/metrics", method: .get, headers: forwarded, body: nil)
            #expect(refused.status == .forbidden)
            #expect(refused.errorCode == "metrics_forbidden")
        }
        let open = try await TestServer.make {
            $0.trustedProxies = ["127.0.0.0/8", "::1"].compactMap(IPAddressRange.init)
            $0.metricsFrom = ["203.0.113.0/24"].compactMap(IPAddressRange.init)
        }
        try await open.run { (client: any TestClientProtocol) async throws -> Void in
            let forwarded: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"]
            #expect(try await client.executeRequest(uri: "/metrics", method: .get, headers: forwarded, body: nil).status == .ok)
            #expect(try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil).status == .forbidden)
        }
    }

    /// `name{labels} value` lines, comments skipped.
    static func parse(_ text: String) -> [String: Double] { PrometheusText.samples(text) }
}

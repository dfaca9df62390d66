import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomSQLite
import CloakroomSessions
import CloakroomTesting
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import CloakroomServer

/// Builds a real server (real HTTP over loopback) on real stores for one test.
struct TestServer {
    var configuration: ServerConfiguration
    var backends: Backends
    let clock: ManualClock
    /// The signing keys (one EdDSA key unless the test adds more).
    let keyRing: TokenKeyRing

    static func make(
        store: StoreLocation = .memory,
        accounts: StoreLocation? = nil,
        clock: ManualClock = ManualClock(start: Date()),
        edit: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.store = store
        configuration.accounts = accounts
        configuration.passwordHash = ScryptParameters(logN: 10, r: 8, p: 1)
        edit(&configuration)
        let backends = try await Backends.open(configuration.store, accounts: configuration.accounts, logger: Logger(label: "test"))
        let ring = TokenKeyRing(
            configuration: .init(maxTokenLifetime: configuration.tokens.accessLifetime, leeway: configuration.tokens.leeway),
            clock: clock
        )
        try await ring.generate()
        return TestServer(configuration: configuration, backends: backends, clock: clock, keyRing: ring)
    }

    /// Runs the server for `body`. `.live` sends requests one at a time over one connection;
    /// `.ahc()` uses a pooled client, for tests that need truly concurrent requests.
    func run<T: Sendable>(_ setup: TestingSetup = .live, _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let app = try CloakroomApplication.make(
            configuration: configuration,
            backends: backends,
            keys: .init(ring: keyRing),
            clock: clock,
            logger: logger
        )
        return try await app.test(setup, body)
    }
}

/// A client that keeps one cookie, like a browser would for this host.
final class Visitor: @unchecked Sendable {
    let client: any TestClientProtocol
    let cookieName: String
    var cookie: String?
    var lastSetCookie: String?

    init(_ client: any TestClientProtocol, cookieName: String = "cloakroom") {
        self.client = client
        self.cookieName = cookieName
    }

    @discardableResult
    func request(
        _ method: HTTPRequest.Method,
        _ uri: String,
        json: String? = nil,
        form: [String: String]? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        var body: ByteBuffer? = nil
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(string: json)
        }
        if let form {
            headers[.contentType] = "application/x-www-form-urlencoded"
            body = ByteBuffer(string: form.map { "\(Self.encode($0.key))=\(Self.encode($0.value))" }.joined(separator: "&"))
        }
        if let cookie { headers[.cookie] = "\(cookieName)=\(cookie)" }
        let response = try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
        // The session cookie among every Set-Cookie (a sign-in also sets the known-device cookie).
        let sessionCookie = response.headers[values: .setCookie].first { SetCookieParser.parse($0)?.name == cookieName }
        lastSetCookie = sessionCookie ?? response.headers[.setCookie]
        if let set = sessionCookie, let parsed = SetCookieParser.parse(set) {
            if let maxAge = parsed.maxAge, maxAge <= 0 { cookie = nil } else { cookie = parsed.value }
        }
        return response
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(object as? [String: Any])
    }

    var errorCode: String? { (try? json())?["error"] as? String }
}

/// A password that passes the policy.
let goodPassword = "correct horse battery staple"

func credentials(_ user: String, _ password: String = goodPassword) -> String {
    #"{"username":"\#(user)","password":"\#(password)"}"#
}

extension Duration {
    /// The duration in seconds, fractions included.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

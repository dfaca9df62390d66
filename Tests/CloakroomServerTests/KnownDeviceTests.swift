import CloakroomCore
import CloakroomTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CloakroomServer

/// The known-device cookie and the signed-in session keep their owner in while someone at the
/// same address has locked the account there (issue 10, finding 2).
@Suite("Known devices and signed-in users are not locked out")
struct KnownDeviceTests {
    static let deviceCookie = "cloakroom-device"

    /// The value of the cookie `name` among a response's `Set-Cookie` headers, with its attributes.
    static func setCookie(_ response: TestResponse, _ name: String) -> String? {
        response.headers[values: .setCookie].first { $0.hasPrefix(name + "=") }
    }

    static func value(_ header: String?) -> String? {
        header.map { String($0.dropFirst(deviceCookie.count + 1).prefix { $0 != ";" }) }
    }

    /// Locks "owner" for this address: wrong passwords, each after its delay, until a 429 that says locked.
    static func lockFromHere(_ server: TestServer, _ client: any TestClientProtocol) async throws {
        for _ in 0..<20 {
            server.clock.advance(by: 61)
            let response = try await Visitor(client).request(.post, "/api/login", json: credentials("owner", "somebody's guess"))
            if response.status == .tooManyRequests, response.text.contains("locked") { return }
        }
        Issue.record("the address was never locked")
    }

    @Test("a sign-in sets the device cookie; with it the owner signs in past a lock on the same address; a forged or foreign one does not help")
    func deviceCookieGetsPastALock() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let registered = try await Visitor(client).request(.post, "/api/register", json: credentials("owner"))
            #expect(registered.status == .created)
            let header = try #require(Self.setCookie(registered, Self.deviceCookie), "registration remembers the device")
            #expect(header.contains("HttpOnly") && header.contains("SameSite=Lax") && header.contains("Path=/"))
            #expect(header.contains("Max-Age=31536000"))
            let device = try #require(Self.value(header))
            try await Visitor(client).request(.post, "/api/register", json: credentials("other"))
            let otherLogin = try await Visitor(client).request(.post, "/api/login", json: credentials("other"))
            let otherDevice = try #require(Self.value(Self.setCookie(otherLogin, Self.deviceCookie)))

            try await Self.lockFromHere(server, client)
            func login(cookie: String?) async throws -> TestResponse {
                var headers: HTTPFields = [:]
                if let cookie { headers[.cookie] = "\(Self.deviceCookie)=\(cookie)" }
                return try await Visitor(client).request(.post, "/api/login", json: credentials("owner"), headers: headers)
            }
            #expect(try await login(cookie: nil).status == .tooManyRequests, "without the cookie this address is locked")
            var forged = Array(device)
            forged[forged.count - 2] = forged[forged.count - 2] == "A" ? "B" : "A"
            #expect(try await login(cookie: String(forged)).status == .tooManyRequests, "a forged cookie is ignored")
            #expect(try await login(cookie: otherDevice).status == .tooManyRequests, "another account's cookie is ignored")
            let known = try await login(cookie: device)
            #expect(known.status == .ok, "the owner's device signs in: \(known.text)")
            let renewed = try #require(Self.value(Self.setCookie(known, Self.deviceCookie)))
            #expect(renewed.split(separator: ".")[1] == device.split(separator: ".")[1], "the device keeps its ID")
        }
    }

    @Test("a signed-in user re-enters the password (change it, end other sessions) while the address is locked")
    func signedInUserIsNotLockedOut() async throws {
        let server = try await TestServer.make()
        try await server.run { client in
            let owner = Visitor(client)
            #expect(try await owner.request(.post, "/api/register", json: credentials("owner")).status == .created)
            try await Self.lockFromHere(server, client)
            server.clock.advance(by: 600)  // past the re-authentication grace
            let reauth = try await owner.request(.delete, "/api/sessions", json: #"{"password":"\#(goodPassword)"}"#)
            #expect(reauth.status == .ok, "\(reauth.text)")
            let change = try await owner.request(
                .post,
                "/api/password",
                json: #"{"current_password":"\#(goodPassword)","new_password":"another long passphrase"}"#
            )
            #expect(change.status == .noContent, "\(change.text)")
        }
    }
}

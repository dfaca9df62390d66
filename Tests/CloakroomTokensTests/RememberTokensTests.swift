import CloakroomCore
import CloakroomTesting
import CloakroomTokens
import Foundation
import Testing

/// "Keep me signed in" tokens on the token store: rotation, theft detection, one device's family,
/// and their separation from API refresh tokens.
@Suite("Remember-me tokens")
struct RememberTokensTests {
    @Test("each use rotates; the old token again is theft; forget ends the device; lifetime from the sign-in")
    func rotation() async throws {
        let clock = ManualClock()
        let store = MemoryTokenStore()
        let remember = RememberTokens(store: store, lifetime: 3600, clock: clock)
        let first = try await remember.issue(userID: "u1")
        guard case .signedIn(let user, let second) = try await remember.redeem(first) else {
            Issue.record("a fresh token should sign in")
            return
        }
        #expect(user == "u1" && second != first)
        guard case .signedIn(_, let third) = try await remember.redeem(second) else {
            Issue.record("the rotated token should sign in")
            return
        }
        #expect(try await remember.redeem(first) == .theft(userID: "u1"), "an already-used token is theft")
        #expect(try await remember.redeem(third) == .invalid, "theft ends the device's family")
        let other = try await remember.issue(userID: "u1")
        try await remember.forget(other)
        #expect(try await remember.redeem(other) == .invalid, "forget ends the token")
        let late = try await remember.issue(userID: "u1")
        clock.advance(by: 3601)
        #expect(try await remember.redeem(late) == .invalid, "past its lifetime")
        #expect(try await remember.redeem("not a token") == .invalid)
    }

    @Test("an API refresh token is not a remember token, and the reverse; revokeEverything ends both")
    func separation() async throws {
        let clock = ManualClock()
        let store = MemoryTokenStore()
        let ring = TokenKeyRing(clock: clock)
        try await ring.generate()
        let tokens = TokenService(
            issuer: AccessTokenIssuer(keyRing: ring, configuration: .init(issuer: "https://id.example"), clock: clock),
            verifier: TokenVerifier(keys: ring, configuration: .init(issuer: "https://id.example", audience: "https://id.example"), clock: clock),
            store: store,
            configuration: .init(audience: "https://id.example")
        )
        let remember = RememberTokens(store: store, clock: clock)
        let grant = try await tokens.signIn(userID: "u1")
        #expect(try await remember.redeem(grant.refreshToken) == .invalid, "a refresh token signed a browser in")
        let device = try await remember.issue(userID: "u1")
        await #expect(throws: TokenService.RefreshError.self) { _ = try await tokens.refresh(device, clientID: "cloakroom") }
        try await tokens.revokeEverything(forUser: "u1")
        #expect(try await remember.redeem(device) == .invalid, "sign out everywhere left a remembered device")
    }
}

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
        let remember = RememberTokens(store: store, lifetime: 3600, raceWindow: 10, clock: clock)
        let first = try await remember.issue(userID: "u1")
        guard case .signedIn(let user, let second) = try await remember.redeem(first) else {
            Issue.record("a fresh token should sign in")
            return
        }
        #expect(user == "u1" && second != first)
        clock.advance(by: 11)
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

    @Test("each device is listed once with its label, follows rotation, and can be forgotten by its ID alone", arguments: ["memory", "file"])
    func devices(_ kind: String) async throws {
        let clock = ManualClock()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-devices-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store: any TokenStore = kind == "memory" ? MemoryTokenStore() : try FileTokenStore(directory: folder)
        let remember = RememberTokens(store: store, lifetime: 86_400, clock: clock)
        let laptop = try await remember.issue(userID: "u1", device: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
        clock.advance(by: 60)
        let phone = try await remember.issue(userID: "u1", device: "  ")
        _ = try await remember.issue(userID: "u2", device: "someone else")
        clock.advance(by: 60)
        guard case .signedIn(_, let laptopNext) = try await remember.redeem(laptop) else {
            Issue.record("no rotation")
            return
        }
        let devices = try await remember.devices(ofUser: "u1")
        #expect(devices.count == 2, "one entry per device, not per token: \(devices)")
        #expect(devices.first?.label == "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", "most recently used first, with its label")
        #expect(devices.first?.lastUsed == clock.now())
        #expect(devices.last?.label == nil, "a blank User-Agent is no label")
        let laptopID = try await remember.deviceID(ofToken: laptopNext)
        #expect(laptopID == devices.first?.id && laptopID != nil)
        #expect(try await remember.deviceID(ofToken: laptop) == laptopID, "a used token still names its device")
        // The ID names a device of this user only.
        #expect(try await remember.forget(device: laptopID!, ofUser: "u2") == false)
        #expect(try await remember.forget(device: laptopID!, ofUser: "u1"))
        #expect(try await remember.redeem(laptopNext) == .invalid, "a forgotten device still signs in")
        #expect(try await remember.devices(ofUser: "u1").count == 1)
        guard case .signedIn = try await remember.redeem(phone) else {
            Issue.record("forgetting one device ended another")
            return
        }
        #expect(try await remember.forget(device: "0123456789abcdef01234567", ofUser: "u1") == false)
        let long = String(repeating: "é", count: 300)
        _ = try await remember.issue(userID: "u3", device: long)
        #expect(try await remember.devices(ofUser: "u3").first?.label?.utf8.count ?? 0 <= RememberTokens.maxLabelBytes)
    }

    @Test("a second use within the race window (two tabs) is a race: nobody signed in, nothing ended; after it, theft")
    func race() async throws {
        let clock = ManualClock()
        let store = MemoryTokenStore()
        let remember = RememberTokens(store: store, lifetime: 3600, raceWindow: 10, clock: clock)
        let token = try await remember.issue(userID: "u1")
        guard case .signedIn(_, let next) = try await remember.redeem(token) else {
            Issue.record("no sign-in")
            return
        }
        clock.advance(by: 0.2)
        #expect(try await remember.redeem(token) == .raced, "the second tab")
        guard case .signedIn = try await remember.redeem(next) else {
            Issue.record("the race ended the device")
            return
        }
        // Truly at once: both rotations race in the store; one signs in, the other is a race, never theft.
        let pair = try await remember.issue(userID: "u2")
        async let a = remember.redeem(pair)
        async let b = remember.redeem(pair)
        let outcomes = try await [a, b]
        #expect(outcomes.filter { if case .signedIn = $0 { true } else { false } }.count == 1, "\(outcomes)")
        #expect(outcomes.contains(.raced), "\(outcomes)")
        // Past the window the same replay is theft.
        let later = try await remember.issue(userID: "u3")
        guard case .signedIn = try await remember.redeem(later) else {
            Issue.record("no sign-in")
            return
        }
        clock.advance(by: 10)
        #expect(try await remember.redeem(later) == .theft(userID: "u3"))
    }
}

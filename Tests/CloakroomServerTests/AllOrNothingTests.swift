import CloakroomCore
import CloakroomIdentity
import CloakroomOAuth
import CloakroomSessions
import CloakroomTesting
import CloakroomTokens
import Foundation
import Logging
import Synchronization
import Testing

@testable import CloakroomServer

/// Which store step fails next (fault injection around real memory stores: a failure in the
/// middle of a multi-step change cannot be had from a healthy store).
final class Faults: Sendable {
    private let state = Mutex<(epoch: Bool, hash: Bool)>((false, false))
    var failEpoch: Bool {
        get { state.withLock { $0.epoch } }
        set { state.withLock { $0.epoch = newValue } }
    }
    var failHash: Bool {
        get { state.withLock { $0.hash } }
        set { state.withLock { $0.hash = newValue } }
    }
}

/// A memory token store whose `raiseEpoch` fails on demand.
struct FaultyTokenStore: TokenStore {
    let inner = MemoryTokenStore()
    let faults: Faults
    func insertRefreshToken(_ record: RefreshTokenRecord) async throws { try await inner.insertRefreshToken(record) }
    func refreshToken(key: String, now: Date) async throws -> RefreshTokenRecord? { await inner.refreshToken(key: key, now: now) }
    func rotateRefreshToken(key: String, newKey: String, now: Date, lifetime: TimeInterval) async throws -> RefreshRotation {
        try await inner.rotateRefreshToken(key: key, newKey: newKey, now: now, lifetime: lifetime)
    }
    func revokeFamily(_ familyID: String) async throws -> Int { await inner.revokeFamily(familyID) }
    func revokeRefreshTokens(forUser userID: String) async throws -> Int { await inner.revokeRefreshTokens(forUser: userID) }
    func refreshTokens(forUser userID: String, now: Date) async throws -> [RefreshTokenRecord] {
        await inner.refreshTokens(forUser: userID, now: now)
    }
    func raiseEpoch(forUser userID: String, to epoch: Int, keepUntil: Date) async throws {
        if faults.failEpoch { throw StoreError.unavailable("injected: epoch write failed") }
        await inner.raiseEpoch(forUser: userID, to: epoch, keepUntil: keepUntil)
    }
    func denyTokenID(_ tokenID: String, until: Date) async throws { await inner.denyTokenID(tokenID, until: until) }
    func revocationState(userID: String, tokenID: String, sessionID: String?, now: Date) async throws -> RevocationState {
        await inner.revocationState(userID: userID, tokenID: tokenID, sessionID: sessionID, now: now)
    }
    func deleteExpired(now: Date, limit: Int) async throws -> Int { await inner.deleteExpired(now: now, limit: limit) }
}

/// A memory account store whose `updatePasswordHash` fails on demand.
struct FaultyAccountStore: IterableAccountStore {
    let inner = MemoryAccountStore()
    let faults: Faults
    func create(_ account: Account) async throws { try await inner.create(account) }
    func account(username: String) async throws -> Account? { try await inner.account(username: username) }
    func account(id: String) async throws -> Account? { try await inner.account(id: id) }
    func updatePasswordHash(id: String, hash: String) async throws {
        if faults.failHash { throw StoreError.unavailable("injected: password hash write failed") }
        try await inner.updatePasswordHash(id: id, hash: hash)
    }
    func setDisabled(id: String, _ disabled: Bool) async throws { try await inner.setDisabled(id: id, disabled) }
    func delete(id: String) async throws -> Bool { try await inner.delete(id: id) }
    func all() async throws -> [Account] { try await inner.all() }
}

/// Password change, operator reset and "sign out everywhere" fail safe: whichever step fails,
/// the old sign-ins are never left working beside a changed password or a signed-out user.
@Suite("multi-step revocations fail safe")
struct AllOrNothingTests {
    let password = "the old long password"
    let newPassword = "the new long password"

    struct Fixture {
        let services: AppServices
        let faults: Faults
        let account: Account
        let current: Session
        let other: Session
        let grant: TokenService.Grant
    }

    func fixture() async throws -> Fixture {
        let faults = Faults()
        let ring = TokenKeyRing()
        try await ring.generate()
        var configuration = ServerConfiguration()
        configuration.passwordHash = ScryptParameters(logN: 4, r: 8, p: 1)
        let backends = Backends(
            sessions: MemorySessionStore(),
            accounts: FaultyAccountStore(faults: faults),
            clients: MemoryOAuthClientStore(),
            consents: MemoryConsentStore(),
            federated: MemoryFederatedIdentityStore(),
            throttle: MemoryThrottleStore(),
            tokens: FaultyTokenStore(faults: faults),
            sessionEpochs: MemorySessionEpochStore(),
            purgeThrottle: { _ in 0 },
            purgeTokens: { _ in 0 },
            services: [],
            close: {}
        )
        let services = AppServices(configuration: configuration, backends: backends, keyRing: ring, logger: .init(label: "test"))
        let account = try await services.register(username: "dana", password: password)
        let current = try await services.sessions.load(cookieValue: nil)
        try await services.sessions.signIn(current, userID: account.id)
        let other = try await services.sessions.load(cookieValue: nil)
        try await services.sessions.signIn(other, userID: account.id)
        let grant = try await services.tokens.signIn(userID: account.id)
        return Fixture(services: services, faults: faults, account: account, current: current, other: other, grant: grant)
    }

    func isLive(_ session: Session, _ services: AppServices) async throws -> Bool {
        try await services.sessions.load(cookieValue: session.cookieValue).exists
    }

    func refreshWorks(_ grant: TokenService.Grant, _ services: AppServices) async -> Bool {
        (try? await services.tokens.refresh(grant.refreshToken)) != nil
    }

    func signsIn(_ password: String, _ services: AppServices) async -> Bool {
        (try? await services.signIn.authenticate(username: "dana", password: password, address: nil)) != nil
    }

    @Test("sign out everywhere: should raising the epoch fail, the refresh tokens are already gone")
    func epochFailureLeavesNoRefreshToken() async throws {
        let f = try await fixture()
        f.faults.failEpoch = true
        await #expect(throws: StoreError.self) { try await f.services.tokens.revokeEverything(forUser: f.account.id) }
        #expect(await !refreshWorks(f.grant, f.services), "a refresh token outlived a failed sign-out everywhere")
    }

    @Test("password change: the hash write fails after the other sign-ins ended; the old password still works")
    func hashFailureEndsOtherSignInsAndKeepsThePassword() async throws {
        let f = try await fixture()
        f.faults.failHash = true
        await #expect(throws: StoreError.self) {
            try await f.services.changePassword(.session(f.account, f.current), current: password, new: newPassword, address: nil)
        }
        #expect(try await !isLive(f.other, f.services), "another session survived")
        #expect(await !refreshWorks(f.grant, f.services), "a refresh token survived")
        #expect(try await isLive(f.current, f.services), "the caller's own session is kept")
        #expect(await signsIn(password, f.services), "the change failed: the old password is still the password")
        #expect(await !signsIn(newPassword, f.services))
    }

    @Test("password change: ending the sign-ins fails; the password is not changed")
    func revocationFailureChangesNothing() async throws {
        let f = try await fixture()
        f.faults.failEpoch = true
        await #expect(throws: StoreError.self) {
            try await f.services.changePassword(.session(f.account, f.current), current: password, new: newPassword, address: nil)
        }
        #expect(await !signsIn(newPassword, f.services), "a new password was stored beside working old sign-ins")
        #expect(await signsIn(password, f.services))
        #expect(await !refreshWorks(f.grant, f.services), "refresh tokens go first")
    }

    @Test("operator reset: a failed hash write leaves no session or refresh token; a good one ends them all")
    func operatorReset() async throws {
        let f = try await fixture()
        f.faults.failHash = true
        await #expect(throws: StoreError.self) { _ = try await f.services.resetPassword(f.account, to: newPassword) }
        #expect(try await !isLive(f.current, f.services))
        #expect(try await !isLive(f.other, f.services))
        #expect(await !refreshWorks(f.grant, f.services))
        f.faults.failHash = false
        let again = try await f.services.sessions.load(cookieValue: nil)
        try await f.services.sessions.signIn(again, userID: f.account.id)
        #expect(try await f.services.resetPassword(f.account, to: newPassword) == 1)
        #expect(try await !isLive(again, f.services))
        #expect(await signsIn(newPassword, f.services))
    }
}

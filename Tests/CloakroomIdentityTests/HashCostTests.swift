import CloakroomCore
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomIdentity

/// A wrong password costs the same scrypt work whether the account is unknown, has a current hash,
/// or has an older, cheaper one (which would otherwise answer faster and give it away).
@Suite("Sign-in work does not depend on the account's hash cost")
struct HashCostTests {
    let clock = ManualClock()
    let current = ScryptParameters(logN: 8, r: 8, p: 2)

    /// The scrypt work one failed sign-in of `username` costs.
    func work(of username: String, in service: SignInService) async throws -> Int {
        let before = service.hasher.workDone.value
        await #expect(throws: IdentityError.invalidCredentials()) {
            _ = try await service.authenticate(username: username, password: "not the password!", address: nil)
        }
        return service.hasher.workDone.value - before
    }

    @Test("unknown user, current hash and older cheaper hashes: the same work (within 10%)")
    func failedSignInsCostTheSame() async throws {
        let accounts = MemoryAccountStore()
        let hasher = PasswordHasher(parameters: current)
        let service = SignInService(accounts: accounts, hasher: hasher, throttle: LoginThrottle(store: MemoryThrottleStore()), clock: clock)
        _ = try await service.register(username: "current", password: "a long enough password")
        for (name, old) in [("older", ScryptParameters(logN: 6, r: 8, p: 1)), ("oddly", ScryptParameters(logN: 7, r: 4, p: 3))] {
            let oldHash = try await PasswordHasher(parameters: old).hash("a long enough password")
            try await accounts.create(Account(username: name, passwordHash: oldHash, createdAt: clock.now()))
        }
        let unknown = try await work(of: "nobody", in: service)
        #expect(unknown == current.work)
        for name in ["current", "older", "oddly"] {
            let spent = try await work(of: name, in: service)
            #expect(abs(spent - unknown) * 10 <= unknown, "\(name): \(spent) against \(unknown)")
        }
    }

    @Test("the top-up covers exactly what is missing when it can, and nothing for a current hash")
    func hardeningParameters() throws {
        #expect(PasswordHasher.hardening(stored: current, current: current) == nil)
        #expect(PasswordHasher.hardening(stored: ScryptParameters(logN: 15, r: 8, p: 3), current: current) == nil)
        let stored = ScryptParameters(logN: 14, r: 8, p: 1)
        let target = ScryptParameters.owasp
        let extra = try #require(PasswordHasher.hardening(stored: stored, current: target))
        #expect(stored.work + extra.work == target.work, "\(extra)")
    }
}

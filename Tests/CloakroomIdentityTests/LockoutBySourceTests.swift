import CloakroomCore
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomIdentity

/// Failures lock an account only for the source they come from; from everywhere together they
/// slow it, and a known device is slowed by none of them (issue 10, finding 2).
@Suite("Lockout per (account, source), slowdown per account")
struct LockoutBySourceTests {
    let clock = ManualClock()
    let rightPassword = "the owner's own password"

    func service(_ store: MemoryThrottleStore = MemoryThrottleStore()) async throws -> SignInService {
        let service = SignInService(
            accounts: MemoryAccountStore(),
            hasher: PasswordHasher(parameters: ScryptParameters(logN: 6, r: 8, p: 1)),
            throttle: LoginThrottle(store: store),
            clock: clock
        )
        _ = try await service.register(username: "owner", password: rightPassword)
        return service
    }

    /// The error of one attempt, nil when it signed in.
    func attempt(_ service: SignInService, _ password: String, from address: String?, device: String? = nil) async -> IdentityError? {
        do {
            _ = try await service.authenticate(username: "owner", password: password, address: address, device: device)
            return nil
        } catch let error as IdentityError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test("an attacker who locks the account from his address locks only himself")
    func attackerLocksOnlyHisSource() async throws {
        let service = try await service()
        var failures = 0
        for _ in 0..<30 where failures < 10 {
            clock.advance(by: 61)
            if await attempt(service, "a wrong guess!!", from: "203.0.113.66")?.code == .invalidCredentials { failures += 1 }
        }
        #expect(failures == 10)
        let attacker = await attempt(service, rightPassword, from: "203.0.113.66")
        #expect(attacker?.code == .throttled && attacker?.message.contains("locked") == true, "his source is locked")
        // His 10 failures also count on the account from everywhere: 1 s of slowdown, no lock.
        clock.advance(by: 2)
        #expect(await attempt(service, rightPassword, from: "198.51.100.7") == nil, "the owner elsewhere signs in")
        #expect(await attempt(service, rightPassword, from: "2001:db8:1::5") == nil, "and over IPv6")
    }

    @Test("failures from many addresses slow the account (never lock it); a known device is not slowed")
    func manySourcesSlowButNeverLock() async throws {
        let service = try await service()
        for index in 0..<10 {
            #expect(await attempt(service, "a wrong guess!!", from: "198.18.0.\(index)")?.code == .invalidCredentials)
        }
        let slowed = await attempt(service, rightPassword, from: "192.0.2.200")
        #expect(slowed?.code == .throttled, "from a new address the owner waits too")
        #expect(slowed?.message.contains("locked") == false, "slowed, not locked")
        #expect((slowed?.retryAfter ?? 0) <= 60)
        #expect(await attempt(service, rightPassword, from: "198.18.0.1", device: "owner's laptop") == nil, "a known device is not slowed")
        // A long spread-out run: one guess a minute from new addresses, 200 of them.
        for index in 0..<200 {
            clock.advance(by: 61)
            let error = await attempt(service, "a wrong guess!!", from: "198.19.\(index / 250).\(index % 250)")
            #expect(error?.code == .invalidCredentials, "guess \(index): \(String(describing: error))")
        }
        let during = await attempt(service, rightPassword, from: "192.0.2.201")
        #expect(during?.code == .throttled && during?.message.contains("locked") == false)
        #expect((during?.retryAfter ?? 0) <= 60, "never more than a minute")
        clock.advance(by: 61)
        #expect(await attempt(service, rightPassword, from: "192.0.2.201") == nil, "after a minute the owner signs in from anywhere")
        #expect(await attempt(service, rightPassword, from: "192.0.2.202", device: "owner's laptop") == nil)
    }

    @Test("a known device's own failures lock only that device")
    func deviceFailuresAreItsOwn() async throws {
        let store = MemoryThrottleStore()
        let service = try await service(store)
        var failures = 0
        for _ in 0..<30 where failures < 10 {
            clock.advance(by: 61)
            if await attempt(service, "a wrong guess!!", from: "192.0.2.9", device: "stolen cookie")?.code == .invalidCredentials { failures += 1 }
        }
        let locked = await attempt(service, rightPassword, from: "192.0.2.9", device: "stolen cookie")
        #expect(locked?.code == .throttled && locked?.message.contains("locked") == true)
        #expect(await attempt(service, rightPassword, from: "192.0.2.9", device: "owner's phone") == nil, "another device is untouched")
        #expect(await attempt(service, rightPassword, from: "192.0.2.9") == nil, "as is the address without a device")
        #expect(
            try await store.state(key: LoginThrottle.accountKey("owner"), now: clock.now(), window: 900) == nil,
            "the global counter never saw them"
        )
    }

    @Test("an unknown source without an address (a command-line caller) is locked like any other source")
    func noAddressIsOneSource() async throws {
        let service = try await service()
        var failures = 0
        for _ in 0..<30 where failures < 10 {
            clock.advance(by: 61)
            if await attempt(service, "a wrong guess!!", from: nil)?.code == .invalidCredentials { failures += 1 }
        }
        #expect(await attempt(service, rightPassword, from: nil)?.code == .throttled)
        clock.advance(by: 2)
        #expect(await attempt(service, rightPassword, from: "192.0.2.1") == nil)
    }
}

import CloakroomCore
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomIdentity

/// The throttle counts an attempt before its password is hashed: a burst of parallel guesses
/// cannot all pass the check that came before any of them failed.
@Suite("Sign-in throttle under a parallel burst")
struct ThrottleRaceTests {
    let clock = ManualClock()
    let parameters = ScryptParameters(logN: 6, r: 8, p: 1)

    @Test(
        "40 parallel wrong guesses: at most the free attempts are hashed; the right password right after is refused",
        arguments: [true, false]
    )
    func burstIsCountedBeforeHashing(fromOneAddress: Bool) async throws {
        let store = MemoryThrottleStore()
        let service = SignInService(
            accounts: MemoryAccountStore(),
            hasher: PasswordHasher(parameters: parameters, maxConcurrent: 4, maxQueued: 64),
            throttle: LoginThrottle(store: store),
            clock: clock
        )
        _ = try await service.register(username: "victim", password: "the right password")
        let before = service.hasher.workDone.value
        let refusals = await withTaskGroup(of: String.self) { group in
            for index in 0..<40 {
                group.addTask {
                    do {
                        _ = try await service.authenticate(
                            username: "victim",
                            password: "guess number \(index)",
                            address: fromOneAddress ? "198.51.100.1" : "198.51.100.\(index)"
                        )
                        return "signed in"
                    } catch let error as IdentityError {
                        return error.code.rawValue
                    } catch {
                        return "\(error)"
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        let hashed = (service.hasher.workDone.value - before) / parameters.work
        // From one address its own counter allows 3; spread over 40 addresses, the account's
        // global counter allows 10 before it slows every unknown source.
        let allowed = fromOneAddress ? LoginThrottle.Policy.account.freeAttempts : LoginThrottle.Policy.accountGlobal.freeAttempts
        #expect(hashed <= allowed, "\(hashed) guesses were hashed")
        #expect(refusals.filter { $0 == "invalid_credentials" }.count == hashed)
        #expect(refusals.filter { $0 == "too_many_attempts" }.count == 40 - hashed)
        let state = try await store.state(key: LoginThrottle.accountKey("victim"), now: clock.now(), window: 900)
        #expect((state?.failures ?? 0) >= hashed, "every hashed guess counts")
        // Throttled: the right password does not sign in now either.
        do {
            _ = try await service.authenticate(
                username: "victim",
                password: "the right password",
                address: fromOneAddress ? "198.51.100.1" : "203.0.113.1"
            )
            Issue.record("the right password signed in right after a burst of guesses")
        } catch let error as IdentityError {
            #expect(error.code == .throttled)
        }
    }

    @Test("one attempt at a time still works: a right password after a wrong one signs in and resets")
    func sequentialAttempts() async throws {
        let store = MemoryThrottleStore()
        let service = SignInService(
            accounts: MemoryAccountStore(),
            hasher: PasswordHasher(parameters: parameters),
            throttle: LoginThrottle(store: store),
            clock: clock
        )
        _ = try await service.register(username: "user", password: "the right password")
        await #expect(throws: IdentityError.invalidCredentials()) {
            _ = try await service.authenticate(username: "user", password: "wrong password!!", address: "192.0.2.1")
        }
        _ = try await service.authenticate(username: "user", password: "the right password", address: "192.0.2.1")
        #expect(try await store.state(key: LoginThrottle.accountKey("user"), now: clock.now(), window: 900) == nil)
        #expect(try await store.state(key: "ip:192.0.2.1", now: clock.now(), window: 900)?.failures == 1, "the address keeps its failure")
    }
}

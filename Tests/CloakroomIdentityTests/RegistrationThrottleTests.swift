import CloakroomCore
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomIdentity

@Suite("Registration: throttled per client, a taken name costs a success's work")
struct RegistrationThrottleTests {
    let clock = ManualClock()

    func service(_ throttle: MemoryThrottleStore = MemoryThrottleStore()) -> SignInService {
        SignInService(
            accounts: MemoryAccountStore(),
            hasher: PasswordHasher(parameters: ScryptParameters(logN: 4, r: 8, p: 1)),
            throttle: LoginThrottle(store: throttle, registrationPolicy: .init(freeAttempts: 3, lockAfter: 5, maxDelay: 60, lockDuration: 3600)),
            clock: clock
        )
    }

    @Test("past the free attempts one client waits, even in parallel; another client does not")
    func registrationsArePerClient() async throws {
        let service = service()
        for index in 0..<3 {
            _ = try await service.register(username: "user\(index)", password: "a long enough password", address: "2001:db8:1:2::\(index)")
        }
        // Eight parallel attempts from the same /64: each is counted before it hashes, so at most
        // the attempts the policy allows go through.
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                group.addTask {
                    (try? await service.register(username: "burst\(index)", password: "a long enough password", address: "2001:db8:1:2::ff\(index)"))
                        != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count <= 1, "\(outcomes)")
        do {
            _ = try await service.register(username: "late", password: "a long enough password", address: "2001:db8:1:2::99")
            Issue.record("a throttled client registered")
        } catch let error as IdentityError {
            #expect(error.code == .throttled)
        }
        _ = try await service.register(username: "elsewhere", password: "a long enough password", address: "2001:db8:9:9::1")
        clock.advance(by: 3601)
        _ = try await service.register(username: "later", password: "a long enough password", address: "2001:db8:1:2::99")
    }

    @Test("a taken username is refused after the same hashing work as a success")
    func takenNameCostsTheSame() async throws {
        let service = service()
        let before = service.hasher.workDone.value
        _ = try await service.register(username: "taken", password: "a long enough password")
        let success = service.hasher.workDone.value - before
        await #expect(throws: IdentityError.usernameTaken()) {
            _ = try await service.register(username: "TAKEN", password: "another long password")
        }
        let refusal = service.hasher.workDone.value - before - success
        #expect(success > 0)
        #expect(refusal == success)
    }
}

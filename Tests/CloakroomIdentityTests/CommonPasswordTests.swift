import CloakroomCore
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomIdentity

/// New passwords are checked against 1.46 million common and breached ones and against the
/// username and the service's name (issue 10, finding 12).
@Suite("Common and breached passwords, context words")
struct CommonPasswordTests {
    func service(policy: SignInService.Policy = .init()) -> SignInService {
        SignInService(
            accounts: MemoryAccountStore(),
            hasher: PasswordHasher(parameters: ScryptParameters(logN: 6, r: 8, p: 1)),
            throttle: LoginThrottle(store: MemoryThrottleStore()),
            policy: policy
        )
    }

    @Test("the shipped list is found and holds at least 100,000 passwords")
    func shippedListLoads() throws {
        let list = try CommonPasswordList.bundled()
        #expect(list.entryCount >= 100_000, "\(list.entryCount)")
        #expect(CommonPasswordList.shipped != nil)
    }

    @Test(
        "breached passwords are refused at registration, in any case",
        arguments: ["password1234", "qwertyuiop123", "iloveyou1234", "123456789012", "PassWord1234", "passwordpassword", "correcthorsebatterystaple"]
    )
    func breachedPasswordsAreRefused(_ password: String) async throws {
        await #expect(throws: IdentityError.self) {
            _ = try await service().register(username: "newcomer", password: password)
        }
        do {
            _ = try await service().register(username: "newcomer", password: password)
        } catch let error as IdentityError {
            #expect(error.code == .weakPassword)
            #expect(error.message.contains("common or breached"), "\(error.message)")
        }
    }

    @Test("short common passwords are in the list too, for a server that lowers the minimum length")
    func shortCommonPasswords() async throws {
        let service = service(policy: .init(minPasswordLength: 8))
        for password in ["password", "iloveyou", "12345678", "sunshine1"] {
            #expect(throws: IdentityError.self, "\(password)") { try service.validate(password: password) }
        }
    }

    @Test("passwords built on the username or the service's name are refused; a long passphrase that merely contains them is not")
    func contextWords() async throws {
        let service = service()
        for (username, password) in [
            ("alice", "alice2024alice!"), ("alice", "ALICE-alice-123"), ("bob.smith", "bob.smith12345"), ("carol", "cloakroom12345"),
        ] {
            do {
                _ = try await service.register(username: username, password: password)
                Issue.record("\(password) was accepted for \(username)")
            } catch let error as IdentityError {
                #expect(error.code == .weakPassword && error.message.contains("username or the name of this service"), "\(error.message)")
            }
        }
        _ = try await service.register(username: "dave", password: "dave keeps a blue coat in the cloakroom")
    }

    @Test("a password change is checked too")
    func passwordChangeIsChecked() async throws {
        let service = service()
        let account = try await service.register(username: "erin", password: "erin's first passphrase")
        do {
            try await service.changePassword(account, current: "erin's first passphrase", new: "qwertyuiop123", address: nil)
            Issue.record("a breached new password was accepted")
        } catch let error as IdentityError {
            #expect(error.code == .weakPassword)
        }
    }

    @Test("random passwords are almost never taken for listed ones (Bloom filter false positives under 0.3%)")
    func falsePositiveRate() throws {
        let list = try CommonPasswordList.bundled()
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var found = 0
        let trials = 100_000
        for _ in 0..<trials {
            let password = String((0..<16).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            if list.contains(password) { found += 1 }
        }
        #expect(Double(found) / Double(trials) < 0.003, "\(found) of \(trials)")
    }

    @Test("a damaged or foreign file is refused with a reason")
    func damagedFiles() throws {
        #expect(throws: CommonPasswordList.LoadError.self) { try CommonPasswordList(data: Data("not a list".utf8)) }
        var header = Data("CRBLOOM1".utf8)
        header.append(contentsOf: [0, 0, 0, 0, 0, 0, 1, 0] + [0, 0, 0, 7] + [0, 0, 0, 1])
        #expect(throws: CommonPasswordList.LoadError.self) { try CommonPasswordList(data: header + Data(count: 3)) }
        let list = try CommonPasswordList(data: header + Data(count: 32))
        #expect(!list.contains("anything at all"))
    }
}

import CloakroomCore
import CloakroomIdentity
import CloakroomTesting
import Foundation
import SQLiteNIO
import Testing

@testable import CloakroomSQLite

@Suite("Registration, sign-in and throttling")
struct SignInTests {
    let clock = ManualClock()

    func service(
        accounts: any AccountStore = MemoryAccountStore(),
        throttle: any ThrottleStore = MemoryThrottleStore(),
        logN: Int = 10
    ) -> SignInService {
        SignInService(
            accounts: accounts,
            hasher: PasswordHasher(parameters: ScryptParameters(logN: logN, r: 8, p: 1)),
            throttle: LoginThrottle(store: throttle),
            clock: clock
        )
    }

    @Test func registerThenSignIn() async throws {
        let service = service()
        let account = try await service.register(username: "Alice", password: "long enough password")
        let signedIn = try await service.authenticate(username: "alice", password: "long enough password", address: "1.2.3.4")
        #expect(signedIn.id == account.id, "usernames compare ignoring case")
        #expect(!account.passwordHash.contains("long enough"))
    }

    @Test func duplicateUsernamesIgnoringCaseAreRefused() async throws {
        let service = service()
        _ = try await service.register(username: "bob", password: "long enough password")
        await #expect(throws: IdentityError.usernameTaken()) {
            _ = try await service.register(username: "BOB", password: "long enough password")
        }
    }

    @Test(arguments: ["", "   ", "has space", "semi;colon", "<script>", String(repeating: "a", count: 65)])
    func badUsernamesAreRefused(_ name: String) async throws {
        await #expect(throws: IdentityError.self) { _ = try await service().register(username: name, password: "long enough password") }
    }

    @Test func shortPasswordsAreRefused() async throws {
        await #expect(throws: IdentityError.weakPassword("password must be at least 12 characters")) {
            _ = try await service().register(username: "carol", password: "short")
        }
    }

    @Test func unknownUserAndWrongPasswordGiveTheSameError() async throws {
        let service = service()
        _ = try await service.register(username: "dave", password: "long enough password")
        var errors: [IdentityError] = []
        for (user, password) in [("dave", "wrong password!!"), ("nobody", "wrong password!!")] {
            do {
                _ = try await service.authenticate(username: user, password: password, address: nil)
            } catch let error as IdentityError {
                errors.append(error)
            }
        }
        #expect(errors.count == 2)
        #expect(errors[0].code == .invalidCredentials && errors[1].code == .invalidCredentials)
        #expect(errors[0].message == errors[1].message)
    }

    @Test func disabledAccountsCannotSignIn() async throws {
        let accounts = MemoryAccountStore()
        let service = service(accounts: accounts)
        let account = try await service.register(username: "erin", password: "long enough password")
        try await accounts.setDisabled(id: account.id, true)
        await #expect(throws: IdentityError.accountDisabled()) {
            _ = try await service.authenticate(username: "erin", password: "long enough password", address: nil)
        }
    }

    @Test func weakHashesAreUpgradedAtSignIn() async throws {
        let accounts = MemoryAccountStore()
        _ = try await service(accounts: accounts, logN: 10).register(username: "frank", password: "long enough password")
        let stronger = service(accounts: accounts, logN: 12)
        _ = try await stronger.authenticate(username: "frank", password: "long enough password", address: nil)
        let stored = try #require(try await accounts.account(username: "frank"))
        #expect(PasswordHasher.parameters(of: stored.passwordHash)?.logN == 12)
        _ = try await stronger.authenticate(username: "frank", password: "long enough password", address: nil)
    }

    @Test(arguments: ["memory", "sqlite"])
    func throttleDelaysThenLocksThenResets(_ backend: String) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("throttle-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let database = backend == "sqlite" ? try await CloakroomSQLiteDatabase.open(path: path) : nil
        defer { if let database { Task { try? await database.close() } } }
        let throttleStore: any ThrottleStore = database.map { SQLiteThrottleStore(database: $0) } ?? MemoryThrottleStore()
        let accounts: any AccountStore = database.map { SQLiteAccountStore(database: $0) } ?? MemoryAccountStore()
        let service = service(accounts: accounts, throttle: throttleStore)
        _ = try await service.register(username: "gina", password: "long enough password")

        func attempt(_ password: String) async -> IdentityError? {
            do {
                _ = try await service.authenticate(username: "gina", password: password, address: "9.9.9.9")
                return nil
            } catch let error as IdentityError {
                return error
            } catch {
                Issue.record("unexpected \(error)")
                return nil
            }
        }

        for _ in 0..<3 { #expect(await attempt("wrong password!!")?.code == .invalidCredentials) }
        let delayed = await attempt("long enough password")
        #expect(delayed?.code == .throttled)
        #expect(delayed?.retryAfter == 1)
        clock.advance(by: 1)
        #expect(await attempt("wrong password!!")?.code == .invalidCredentials)  // 4th failure: next wait 2 s
        clock.advance(by: 1)
        #expect(await attempt("wrong password!!")?.retryAfter == 1)
        clock.advance(by: 1)
        // Keep failing, each time after the delay, until locked at 10.
        var failures = 4
        while failures < 10 {
            clock.advance(by: 60)
            #expect(await attempt("wrong password!!")?.code == .invalidCredentials)
            failures += 1
        }
        clock.advance(by: 60)
        let locked = await attempt("long enough password")
        #expect(locked?.code == .throttled)
        #expect((locked?.retryAfter ?? 0) > 800 && (locked?.retryAfter ?? 0) <= 900)
        #expect(locked?.message.contains("locked") == true)
        clock.advance(by: 901)
        #expect(await attempt("long enough password") == nil, "the lock ends")
        // Success reset the account counter.
        for _ in 0..<3 { #expect(await attempt("wrong password!!")?.code == .invalidCredentials) }
    }

    @Test func throttleCountsUnknownUsersToo() async throws {
        let service = service()
        for _ in 0..<3 {
            await #expect(throws: IdentityError.invalidCredentials()) {
                _ = try await service.authenticate(username: "ghost", password: "whatever whatever", address: nil)
            }
        }
        await #expect(throws: IdentityError.self) {
            _ = try await service.authenticate(username: "ghost", password: "whatever whatever", address: nil)
        }
    }

    @Test func addressThrottleSpansAccounts() async throws {
        let throttle = LoginThrottle(store: MemoryThrottleStore(), addressPolicy: .init(freeAttempts: 5, lockAfter: 8))
        for i in 0..<5 {
            try await throttle.recordFailure(username: "user\(i)", source: .init(address: "6.6.6.6"), now: clock.now())
        }
        await #expect(throws: IdentityError.self) {
            try await throttle.check(username: "fresh-user", source: .init(address: "6.6.6.6"), now: clock.now())
        }
        try await throttle.check(username: "fresh-user", source: .init(address: "7.7.7.7"), now: clock.now())
    }

    @Test("look-alike usernames (NFC/NFD, full-width, case folding) name one account, on memory and SQLite")
    func lookAlikeUsernamesAreOneAccount() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("accounts-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let database = try await CloakroomSQLiteDatabase.open(path: path)
        defer { Task { try? await database.close() } }
        for accounts in [MemoryAccountStore() as any AccountStore, SQLiteAccountStore(database: database)] {
            let service = service(accounts: accounts)
            let precomposed = try await service.register(username: "\u{E9}mile", password: "long enough password")
            let decomposed = try await service.register(username: "Zo\u{65}\u{301}", password: "long enough password")
            #expect(decomposed.username == "Zo\u{E9}", "stored in NFC")
            _ = try await service.register(username: "alice", password: "long enough password")
            _ = try await service.register(username: "Stra\u{DF}e", password: "long enough password")
            for clash in ["e\u{301}mile", "\u{C9}MILE", "zo\u{E9}", "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}", "STRASSE"] {
                await #expect(throws: IdentityError.usernameTaken(), "\(clash.unicodeScalars.map { String($0.value, radix: 16) })") {
                    _ = try await service.register(username: clash, password: "long enough password")
                }
            }
            let signedIn = try await service.authenticate(username: "E\u{301}MILE", password: "long enough password", address: nil)
            #expect(signedIn.id == precomposed.id)
        }
    }

    @Test("a password of only spaces, and a new password equal to the current one, are refused")
    func blankAndUnchangedPasswords() async throws {
        let service = service()
        await #expect(throws: IdentityError.weakPassword("password must not be only spaces")) {
            _ = try await service.register(username: "blank", password: String(repeating: " ", count: 12))
        }
        await #expect(throws: IdentityError.self) {
            _ = try await service.register(username: "tabs", password: String(repeating: "\t", count: 12))
        }
        let account = try await service.register(username: "same", password: "long enough password")
        await #expect(throws: IdentityError.weakPassword("the new password is the same as the current one")) {
            try await service.changePassword(account, current: "long enough password", new: "long enough password", address: nil)
        }
    }

    @Test("an account stored under the old lowercase key still signs in")
    func legacyUsernameKeyStillFound() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("accounts-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let database = try await CloakroomSQLiteDatabase.open(path: path)
        defer { Task { try? await database.close() } }
        // A row written before NFKC keys: decomposed "émile" under its lowercased (not NFKC) key.
        let legacyName = "E\u{301}mile"
        try await database.query(
            "INSERT INTO accounts (id, username, username_key, password_hash, created_at, disabled) VALUES ('old-1', ?, ?, '$scrypt$x', 0, 0)",
            [.text(legacyName), .text(Account.legacyKey(legacyName))]
        )
        #expect(!Account.legacyKey(legacyName).utf8.elementsEqual(Account.normalize(legacyName).utf8))
        let store = SQLiteAccountStore(database: database)
        #expect(try await store.account(username: "E\u{301}MILE")?.id == "old-1")
    }

    @Test func sqliteAccountsRoundTrip() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("accounts-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let database = try await CloakroomSQLiteDatabase.open(path: path)
        defer { Task { try? await database.close() } }
        let store = SQLiteAccountStore(database: database)
        let account = Account(username: "Hana", passwordHash: "$scrypt$x", createdAt: Date(timeIntervalSince1970: 1000))
        try await store.create(account)
        await #expect(throws: IdentityError.usernameTaken()) {
            try await store.create(Account(username: "hana", passwordHash: "$scrypt$y", createdAt: Date()))
        }
        #expect(try await store.account(username: "HANA") == account)
        #expect(try await store.account(id: account.id) == account)
        try await store.setDisabled(id: account.id, true)
        #expect(try await store.account(id: account.id)?.disabled == true)
        try await store.updatePasswordHash(id: account.id, hash: "$scrypt$z")
        #expect(try await store.account(id: account.id)?.passwordHash == "$scrypt$z")
        #expect(try await store.all().count == 1)
        #expect(try await store.delete(id: account.id))
        #expect(try await !store.delete(id: account.id))
    }
}

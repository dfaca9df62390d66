import CloakroomIdentity
import CloakroomPostgres
import Foundation
import Testing

extension PostgresTests {
    @Suite("Account and throttle stores")
    struct IdentityStores {
        @Test func accountsRoundTrip() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let store = PostgresAccountStore(database: database)
                let account = Account(username: "Hana", passwordHash: "$scrypt$x", createdAt: Date(timeIntervalSince1970: 1000.25))
                try await store.create(account)
                #expect(try await store.account(username: "HANA") == account)
                #expect(try await store.account(username: "  hana ") == account)
                #expect(try await store.account(id: account.id) == account)
                #expect(try await store.account(username: "nobody") == nil)
                #expect(try await store.account(id: "nobody") == nil)
                try await store.setDisabled(id: account.id, true)
                #expect(try await store.account(id: account.id)?.disabled == true)
                try await store.setDisabled(id: account.id, false)
                #expect(try await store.account(id: account.id)?.disabled == false)
                try await store.updatePasswordHash(id: account.id, hash: "$scrypt$z")
                #expect(try await store.account(id: account.id)?.passwordHash == "$scrypt$z")
                let other = Account(username: "ann", passwordHash: "$scrypt$a", createdAt: Date(timeIntervalSince1970: 2000))
                try await store.create(other)
                #expect(try await store.all().map(\.username) == ["ann", "Hana"], "all() orders by the normalised name")
                #expect(try await store.delete(id: account.id))
                #expect(try await !store.delete(id: account.id))
                #expect(try await store.all() == [other])
            }
        }

        @Test func usernamesAreUniqueIgnoringCase() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let store = PostgresAccountStore(database: database)
                try await store.create(Account(username: "Bob", passwordHash: "$scrypt$1", createdAt: Date()))
                try await store.create(Account(username: "\u{E9}mile", passwordHash: "$scrypt$1", createdAt: Date()))
                for clash in ["bob", "BOB", " Bob ", "bOb", "\u{FF42}\u{FF4F}\u{FF42}", "e\u{301}mile", "\u{C9}MILE"] {
                    await #expect(throws: IdentityError.usernameTaken()) {
                        try await store.create(Account(username: clash, passwordHash: "$scrypt$2", createdAt: Date()))
                    }
                }
                // Two nodes registering the same name at once: exactly one wins.
                let outcomes = await withTaskGroup(of: Bool.self) { group in
                    for i in 0..<8 {
                        group.addTask {
                            do {
                                try await store.create(
                                    Account(username: i % 2 == 0 ? "Carol" : "CAROL", passwordHash: "$scrypt$\(i)", createdAt: Date())
                                )
                                return true
                            } catch {
                                return false
                            }
                        }
                    }
                    return await group.reduce(into: [Bool]()) { $0.append($1) }
                }
                #expect(outcomes.filter { $0 }.count == 1)
                #expect(try await store.all().count == 3, "Bob, émile and the one winner")
            }
        }

        @Test func throttleCountsWithinTheWindowAndResets() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let store = PostgresThrottleStore(database: database)
                let t0 = Date(timeIntervalSince1970: 1_767_225_600)
                #expect(try await store.state(key: "account:gina", now: t0, window: 60) == nil)
                for i in 1...3 {
                    let state = try await store.recordFailure(key: "account:gina", now: t0.addingTimeInterval(Double(i)), window: 60)
                    #expect(state.failures == i)
                    #expect(abs(state.lastFailure.timeIntervalSince(t0) - Double(i)) < 0.001)
                }
                #expect(try await store.state(key: "account:gina", now: t0.addingTimeInterval(62.9), window: 60)?.failures == 3)
                #expect(try await store.state(key: "account:gina", now: t0.addingTimeInterval(63), window: 60) == nil, "the window passed")
                #expect(try await store.state(key: "ip:1.2.3.4", now: t0, window: 60) == nil, "keys are separate")
                let restarted = try await store.recordFailure(key: "account:gina", now: t0.addingTimeInterval(100), window: 60)
                #expect(restarted.failures == 1, "a counter idle past the window restarts at 1")
                try await store.reset(key: "account:gina")
                #expect(try await store.state(key: "account:gina", now: t0.addingTimeInterval(100), window: 60) == nil)
                try await store.reset(key: "account:never")
            }
        }

        @Test func throttleUpsertIsAtomic() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let store = PostgresThrottleStore(database: database)
                let now = Date()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<50 {
                        group.addTask { _ = try await store.recordFailure(key: "ip:6.6.6.6", now: now, window: 900) }
                    }
                    try await group.waitForAll()
                }
                #expect(try await store.state(key: "ip:6.6.6.6", now: now, window: 900)?.failures == 50)
            }
        }

        @Test func throttlePurgeRemovesIdleCounters() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let store = PostgresThrottleStore(database: database)
                let t0 = Date(timeIntervalSince1970: 1_767_225_600)
                for i in 0..<5 { _ = try await store.recordFailure(key: "old\(i)", now: t0, window: 900) }
                _ = try await store.recordFailure(key: "fresh", now: t0.addingTimeInterval(1000), window: 900)
                #expect(try await store.purge(before: t0.addingTimeInterval(500)) == 5)
                #expect(try await store.purge(before: t0.addingTimeInterval(500)) == 0)
                #expect(try await store.state(key: "fresh", now: t0.addingTimeInterval(1000), window: 900)?.failures == 1)
            }
        }

        @Test func loginThrottleLocksOverPostgres() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let throttle = LoginThrottle(store: PostgresThrottleStore(database: database), accountPolicy: .init(freeAttempts: 2, lockAfter: 4))
                let now = Date()
                for _ in 0..<4 { try await throttle.recordFailure(username: "Dora", source: .init(address: nil), now: now) }
                do {
                    try await throttle.check(username: "dora", source: .init(address: nil), now: now.addingTimeInterval(1))
                    Issue.record("a locked account was let through")
                } catch let error as IdentityError {
                    #expect(error.code == .throttled && error.message.contains("locked"))
                }
                try await throttle.recordSuccess(username: "DORA", source: .init(address: nil))
                try await throttle.check(username: "dora", source: .init(address: nil), now: now.addingTimeInterval(1))
            }
        }
    }
}

import CloakroomCore
import CloakroomPostgres
import CloakroomSessions
import Foundation
import Testing

extension PostgresTests {
    @Suite("Expiry sweeps")
    struct Sweeps {
        static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

        static func record(_ name: String, user: String, idle: TimeInterval) -> SessionRecord {
            SessionRecord(
                key: SecureToken.hash(name),
                handle: "h-" + name,
                userID: user,
                data: ["n": "\"\(name)\""],
                createdAt: t0,
                lastSeen: t0,
                idleExpiresAt: t0.addingTimeInterval(idle),
                absoluteExpiresAt: t0.addingTimeInterval(43200)
            )
        }

        /// Inserts `count` records named `prefix0…` with eight writers at once.
        static func fill(_ store: PostgresSessionStore, prefix: String, count: Int, user: String, idle: TimeInterval) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for i in stride(from: writer, to: count, by: 8) {
                            try await store.insert(record("\(prefix)\(i)", user: user, idle: idle))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }

        @Test(.timeLimit(.minutes(2)))
        func tenThousandExpiredRowsGoInSmallBatches() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let store = PostgresSessionStore(database: database)
                try await Self.fill(store, prefix: "old", count: 10_000, user: "ue", idle: 10)
                try await Self.fill(store, prefix: "live", count: 50, user: "ul", idle: 1000)
                let now = Self.t0.addingTimeInterval(50)
                var batches: [Int] = []
                var slowest = Duration.zero
                let clock = ContinuousClock()
                let started = clock.now
                while true {
                    let batchStarted = clock.now
                    let removed = try await store.deleteExpired(now: now, limit: 500)
                    slowest = max(slowest, batchStarted.duration(to: clock.now))
                    if removed == 0 { break }
                    batches.append(removed)
                }
                print(
                    "PostgreSQL sweep: 10 000 rows in \(batches.count) batches, \(started.duration(to: clock.now)) in all, slowest batch \(slowest)"
                )
                #expect(batches.count == 20, "batches: \(batches)")
                #expect(batches.allSatisfy { $0 <= 500 })
                #expect(batches.reduce(0, +) == 10_000)
                #expect(try await store.records(forUser: "ue", now: Self.t0).isEmpty, "expired rows remain")
                #expect(try await store.records(forUser: "ul", now: now).count == 50, "live rows were swept")
            }
        }

        @Test(.timeLimit(.minutes(2)))
        func concurrentSweepersShareTheWorkWithoutWaiting() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let store = PostgresSessionStore(database: database)
                try await Self.fill(store, prefix: "old", count: 3_000, user: "ue", idle: 10)
                try await Self.fill(store, prefix: "live", count: 20, user: "ul", idle: 1000)
                let now = Self.t0.addingTimeInterval(50)
                let totals = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<3 {
                        group.addTask {
                            var total = 0
                            while true {
                                let removed = try await store.deleteExpired(now: now, limit: 100)
                                if removed == 0 { return total }
                                total += removed
                            }
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(totals.reduce(0, +) == 3_000, "\(totals)")
                #expect(try await store.deleteExpired(now: now, limit: 100) == 0)
                #expect(try await store.records(forUser: "ul", now: now).count == 20)
            }
        }

        @Test func aTouchedSessionIsNotSwept() async throws {
            try await PostgresFixture.withFreshDatabase { database in
                let store = PostgresSessionStore(database: database)
                let r = Self.record("touched", user: "u", idle: 10)
                try await store.insert(r)
                try await store.touch(key: r.key, lastSeen: Self.t0.addingTimeInterval(5), idleExpiresAt: Self.t0.addingTimeInterval(100))
                #expect(try await store.deleteExpired(now: Self.t0.addingTimeInterval(50), limit: 10) == 0)
                #expect(try await store.load(key: r.key, now: Self.t0.addingTimeInterval(50)) != nil)
            }
        }
    }
}

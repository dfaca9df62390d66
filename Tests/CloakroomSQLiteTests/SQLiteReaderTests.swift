import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import CloakroomTokens
import Foundation
import Testing

@testable import CloakroomSQLite

/// Reads run on read-only WAL connections beside the one writer: they never wait for it, see the
/// last committed state, and see every write that returned before they started.
@Suite("SQLite: reader connections beside the writer")
struct SQLiteReaderTests {
    static let now = Date(timeIntervalSince1970: 1_767_225_600)

    static func record(_ name: String, user: String? = nil, expiresIn lifetime: TimeInterval = 3600) -> SessionRecord {
        SessionRecord(
            key: SecureToken.hash(name),
            handle: String(SecureToken.hash(name).prefix(16)),
            userID: user,
            data: ["k": name],
            createdAt: now,
            lastSeen: now,
            idleExpiresAt: now.addingTimeInterval(lifetime),
            absoluteExpiresAt: now.addingTimeInterval(lifetime)
        )
    }

    @Test("a read completes while the writer holds an open write transaction, and sees the last committed state")
    func readsDoNotWaitForTheWriter() async throws {
        let path = TemporaryFile.path("readers")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            #expect(database.readers?.openCount == 2)
            let sessions = SQLiteSessionStore(database: database)
            let tokens = SQLiteTokenStore(database: database)
            let kept = Self.record("kept", user: "u1")
            try await sessions.insert(kept)
            try await tokens.denyTokenID("jti-1", until: Self.now.addingTimeInterval(60))

            // The writer takes the write lock and holds uncommitted changes in it, as a long sweep
            // batch would. Reads must neither wait for it nor see its changes (on the writer's own
            // connection they would see them).
            let pending = Self.record("pending", user: "u1")
            try await database.query("BEGIN IMMEDIATE")
            do {
                try await sessions.delete(key: kept.key)
                try await sessions.insert(pending)
                try await tokens.raiseEpoch(forUser: "u1", to: 7, keepUntil: Self.now.addingTimeInterval(60))

                #expect(try await sessions.load(key: kept.key, now: Self.now) == kept)
                #expect(try await sessions.load(key: pending.key, now: Self.now) == nil)
                #expect(try await sessions.records(forUser: "u1", now: Self.now).map(\.key) == [kept.key])
                #expect(try await sessions.list(now: Self.now, afterKey: nil, limit: 10).map(\.key) == [kept.key])
                #expect(
                    try await tokens.revocationState(userID: "u1", tokenID: "jti-1", sessionID: nil, now: Self.now)
                        == RevocationState(epoch: 0, denied: true)
                )
                try await sessions.ping()
                try await database.query("COMMIT")
            } catch {
                _ = try? await database.query("ROLLBACK")
                throw error
            }
            // The commit returned, so the very next read, on another connection, sees it.
            #expect(try await sessions.load(key: kept.key, now: Self.now) == nil)
            #expect(try await sessions.load(key: pending.key, now: Self.now) == pending)
            #expect(try await tokens.revocationState(userID: "u1", tokenID: "jti-1", sessionID: nil, now: Self.now).epoch == 7)
        }
    }

    @Test("another process holding the write lock does not hold up reads, nor show its uncommitted rows")
    func readsDoNotWaitForAnotherProcess() async throws {
        let path = TemporaryFile.path("readers-two")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { first in
            try await withDatabase(path) { second in
                let reader = SQLiteSessionStore(database: first)
                let committed = Self.record("committed")
                try await SQLiteSessionStore(database: second).insert(committed)
                try await second.query("BEGIN IMMEDIATE")
                do {
                    try await SQLiteSessionStore(database: second).insert(Self.record("pending"))
                    #expect(try await reader.load(key: committed.key, now: Self.now) == committed)
                    #expect(try await reader.load(key: Self.record("pending").key, now: Self.now) == nil)
                    try await second.query("COMMIT")
                } catch {
                    _ = try? await second.query("ROLLBACK")
                    throw error
                }
                #expect(try await reader.load(key: Self.record("pending").key, now: Self.now) != nil)
            }
        }
    }

    @Test("read-your-writes: every write is visible to the next read, across many concurrent tasks")
    func readYourWrites() async throws {
        let path = TemporaryFile.path("readers-ryw")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            let store = SQLiteSessionStore(database: database)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        var record = Self.record("ryw-\(task)")
                        try await store.insert(record)
                        for step in 1...25 {
                            #expect(try await store.load(key: record.key, now: Self.now)?.version == record.version)
                            var next = record
                            next.data["step"] = "\(step)"
                            next.version += 1
                            #expect(try await store.update(next, expectedVersion: record.version))
                            record = next
                        }
                        try await store.delete(key: record.key)
                        #expect(try await store.load(key: record.key, now: Self.now) == nil)
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("reader connections refuse writes")
    func readersAreReadOnly() async throws {
        let path = TemporaryFile.path("readers-ro")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            await #expect(throws: SQLiteStoreError.self) {
                _ = try await database.read("DELETE FROM sessions")
            }
            let version = try await database.schemaVersion()
            #expect(version == CloakroomSQLiteDatabase.latestSchemaVersion)
        }
    }

    @Test("an in-memory database has no readers and reads through its one connection")
    func inMemoryReadsUseTheWriter() async throws {
        let database = try await CloakroomSQLiteDatabase.open(path: ":memory:")
        do {
            #expect(database.readers == nil)
            let store = SQLiteSessionStore(database: database)
            let record = Self.record("memory")
            try await store.insert(record)
            #expect(try await store.load(key: record.key, now: Self.now) == record)
            try await database.close()
        } catch {
            try? await database.close()
            throw error
        }
    }

    @Test("purges delete in short chunks yet honour limit and count every row")
    func purgesSpanChunks() async throws {
        let path = TemporaryFile.path("readers-purge")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            let chunk = CloakroomSQLiteDatabase.purgeChunk
            let expired = chunk * 2 + 17
            let sessions = SQLiteSessionStore(database: database)
            for index in 0..<expired { try await sessions.insert(Self.record("old-\(index)", expiresIn: 60)) }
            let live = Self.record("live")
            try await sessions.insert(live)
            let later = Self.now.addingTimeInterval(120)
            #expect(try await sessions.deleteExpired(now: later, limit: chunk + 10) == chunk + 10)
            #expect(try await sessions.deleteExpired(now: later, limit: 10_000) == expired - chunk - 10)
            #expect(try await sessions.deleteExpired(now: later, limit: 10_000) == 0)
            #expect(try await sessions.load(key: live.key, now: later) == live)

            // The sweeper's loop ends once a call removes fewer than its batch.
            for index in 0..<expired { try await sessions.insert(Self.record("again-\(index)", expiresIn: 60)) }
            #expect(try await SessionSweeper(store: sessions, batchSize: chunk * 2, clock: ManualClock(start: later)).sweepOnce() == expired)

            let tokens = SQLiteTokenStore(database: database)
            for index in 0..<(chunk + 5) {
                try await tokens.insertRefreshToken(
                    RefreshTokenRecord(
                        key: SecureToken.hash("rt-\(index)"),
                        familyID: "f\(index)",
                        userID: "u",
                        clientID: "c",
                        scope: "",
                        issuedAt: Self.now,
                        expiresAt: Self.now.addingTimeInterval(60),
                        familyExpiresAt: Self.now.addingTimeInterval(600)
                    )
                )
            }
            #expect(try await tokens.deleteExpired(now: later, limit: chunk + 1) == chunk + 1)
            #expect(try await tokens.deleteExpired(now: later, limit: 10_000) == 4)
        }
    }
}

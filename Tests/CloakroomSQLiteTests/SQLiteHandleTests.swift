import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import SQLiteNIO
import Testing

@testable import CloakroomSQLite

/// The binding over SQLite: statements kept prepared per connection, reads on the caller's thread
/// with a connection checked out for each, and a closed database that refuses work instead of
/// crashing.
@Suite("SQLite: prepared statements and reader connections")
struct SQLiteHandleTests {
    @Test("a kept statement runs again with new values, and past the cache limit every statement still runs")
    func statementsAreKept() throws {
        let handle = try SQLiteHandle(path: ":memory:")
        try handle.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER, f REAL, b BLOB)")
        for index in 0..<(SQLiteHandle.statementLimit + 10) {
            try handle.execute(
                "INSERT INTO t (k, v, f, b) VALUES (?, ?, ?, ?)",
                [.text("k\(index)"), .integer(index), .float(Double(index) / 2), .null]
            )
            // A statement of its own each time: the cache fills and starts over.
            let rows = try handle.execute("SELECT v, f FROM t WHERE k = ? AND \(index) = \(index)", [.text("k\(index)")])
            #expect(rows.count == 1)
            #expect(rows.first?.column("v")?.integer == index)
            #expect(rows.first?.column("f")?.double == Double(index) / 2)
        }
        let count = try handle.execute("SELECT COUNT(*) AS n FROM t WHERE v >= ?", [.integer(10)])
        #expect(count.first?.column("n")?.integer == SQLiteHandle.statementLimit)
        #expect(count.first?.column("missing") == nil)
    }

    @Test("text, blobs (with zero bytes) and nulls come back as they went in")
    func valuesRoundTrip() throws {
        let handle = try SQLiteHandle(path: ":memory:")
        try handle.execute("CREATE TABLE t (k TEXT, b BLOB, n TEXT)")
        let text = "gr\u{FC}\u{DF}e \u{1F9E5}\u{0}after-zero"
        try handle.execute("INSERT INTO t VALUES (?, ?, ?)", [.text(text), .blob(ByteBuffer(bytes: [0, 1, 0, 255])), .null])
        let row = try #require(try handle.execute("SELECT k, b, n FROM t").first)
        #expect(row.column("k")?.string == text)
        #expect(row.column("b")?.blob.map { Array($0.readableBytesView) } == [0, 1, 0, 255])
        #expect(row.column("n")?.isNull == true)
    }

    @Test("a constraint failure is reported as one, and the connection goes on working")
    func constraintFailures() throws {
        let handle = try SQLiteHandle(path: ":memory:")
        try handle.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        try handle.execute("INSERT INTO t VALUES (?)", [.text("a")])
        #expect(throws: SQLiteStoreError.self) { try handle.execute("INSERT INTO t VALUES (?)", [.text("a")]) }
        do {
            try handle.execute("INSERT INTO t VALUES (?)", [.text("a")])
        } catch let error as SQLiteStoreError {
            #expect(error.isConstraint)
        }
        #expect(throws: SQLiteStoreError.self) { try handle.execute("SELECT nonsense FROM nowhere") }
        try handle.execute("INSERT INTO t VALUES (?)", [.text("b")])
        #expect(try handle.execute("SELECT k FROM t ORDER BY k").map { $0.column("k")?.string } == ["a", "b"])
    }

    @Test("a kept SELECT * statement sees a column another connection added")
    func schemaChangeIsSeen() async throws {
        let path = TemporaryFile.path("schema-change")
        defer { TemporaryFile.remove(path) }
        let first = try SQLiteHandle(path: path)
        let second = try SQLiteHandle(path: path)
        try first.execute("CREATE TABLE t (a INTEGER)")
        try first.execute("INSERT INTO t VALUES (1)")
        #expect(try second.execute("SELECT * FROM t").first?.columns == ["a"])
        try first.execute("ALTER TABLE t ADD COLUMN b INTEGER DEFAULT 7")
        let row = try #require(try second.execute("SELECT * FROM t").first)
        #expect(row.columns == ["a", "b"])
        #expect(row.column("b")?.integer == 7)
    }

    @Test("reads running at once each get a connection; idle ones are kept up to the limit")
    func readerPoolGrowsAndShrinks() async throws {
        let path = TemporaryFile.path("reader-pool")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            let readers = try #require(database.readers)
            #expect(readers.openCount == 2)
            // Nested checkouts hold their connections at the same time, as reads on many threads would.
            func nest(_ depth: Int) throws -> Int {
                try readers.withReader { handle in
                    let rows = try handle.execute("SELECT COUNT(*) AS n FROM sessions")
                    #expect(rows.first?.column("n")?.integer == 0)
                    return depth == 1 ? readers.openCount : try nest(depth - 1)
                }
            }
            #expect(try nest(5) == 5)
            #expect(readers.openCount == 5)
            #expect(try nest(readers.idleLimit + 3) == readers.idleLimit + 3)
            #expect(readers.openCount == readers.idleLimit)

            // Reads from many tasks at once all succeed, on however many connections that takes.
            let store = SQLiteSessionStore(database: database)
            let record = SessionRecord(
                key: SecureToken.hash("pool"),
                handle: "pool-handle",
                data: [:],
                createdAt: Date(timeIntervalSince1970: 1_767_225_600),
                lastSeen: Date(timeIntervalSince1970: 1_767_225_600),
                idleExpiresAt: Date(timeIntervalSince1970: 1_767_229_200),
                absoluteExpiresAt: Date(timeIntervalSince1970: 1_767_229_200)
            )
            try await store.insert(record)
            let found = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<64 {
                    group.addTask { try await store.load(key: record.key, now: Date(timeIntervalSince1970: 1_767_225_601)) == record }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(found == 64)
            #expect(readers.openCount <= readers.idleLimit)
        }
    }

    @Test("a closed database refuses reads and writes with a store error")
    func closedDatabaseRefuses() async throws {
        let path = TemporaryFile.path("closed")
        defer { TemporaryFile.remove(path) }
        let database = try await CloakroomSQLiteDatabase.open(path: path)
        let store = SQLiteSessionStore(database: database)
        try await store.ping()
        try await database.close()
        await #expect(throws: StoreError.self) { try await store.ping() }
        await #expect(throws: StoreError.self) { try await store.delete(key: "k") }
        #expect(database.readers?.openCount == 0)
    }
}

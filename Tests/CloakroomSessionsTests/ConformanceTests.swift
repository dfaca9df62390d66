import CloakroomCore
import CloakroomSQLite
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

/// Every store runs the same conformance suite against a real backend.
@Suite("SessionStore conformance")
struct ConformanceTests {
    @Test("memory", arguments: SessionStoreConformance.checkNames)
    func memory(_ check: String) async throws {
        try await SessionStoreConformance.run(only: [check]) { MemorySessionStore() }
    }

    @Test("file folder", arguments: SessionStoreConformance.checkNames)
    func files(_ check: String) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-files-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try await SessionStoreConformance.run(only: [check]) {
            let fresh = folder.appendingPathComponent(UUID().uuidString)
            return try FileSessionStore(directory: fresh)
        }
    }

    @Test("two file stores on one folder lose no writes")
    func twoFileStoresShareAFolder() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-shared-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Two stores = two open lock descriptors, as two server processes would have.
        let a = SessionManager(store: try FileSessionStore(directory: folder), configuration: .init(maxDataKeys: 200))
        let b = SessionManager(store: try FileSessionStore(directory: folder), configuration: .init(maxDataKeys: 200))
        let first = try await a.load(cookieValue: nil)
        first.setValue("0", forKey: "seed")
        guard case .set(let id, _) = try await a.commit(first) else {
            Issue.record("no cookie")
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<60 {
                group.addTask {
                    let manager = i % 2 == 0 ? a : b
                    let session = try await manager.load(cookieValue: id)
                    session.setValue("\(i)", forKey: "k\(i)")
                    _ = try await manager.commit(session)
                }
            }
            try await group.waitForAll()
        }
        let final = try await b.load(cookieValue: id)
        #expect((0..<60).allSatisfy { final.value(forKey: "k\($0)") == "\($0)" })
        // Files are named by the hashed key only.
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("sessions").path)
        #expect(names == [SecureToken.hash(id) + ".json"])
    }

    @Test("SQLite file", arguments: SessionStoreConformance.checkNames)
    func sqlite(_ check: String) async throws {
        let path = TemporaryFile.path("conformance")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            try await SessionStoreConformance.run(only: [check]) {
                // A fresh, empty store per check on the same real file.
                try await SQLiteTestStore.fresh(database)
            }
        }
    }
}

enum SQLiteTestStore {
    static func fresh(_ database: CloakroomSQLiteDatabase) async throws -> SQLiteSessionStore {
        let store = SQLiteSessionStore(database: database)
        var after: String? = nil
        while true {
            let page = try await store.list(now: .distantPast, afterKey: after, limit: 500)
            for record in page { try await store.delete(key: record.key) }
            guard let last = page.last, page.count == 500 else { break }
            after = last.key
        }
        return store
    }
}

/// Opens a real SQLite file, runs `body`, and always closes it (SQLiteNIO requires an explicit close).
func withDatabase<T>(_ path: String, _ body: (CloakroomSQLiteDatabase) async throws -> T) async throws -> T {
    let database = try await CloakroomSQLiteDatabase.open(path: path)
    do {
        let value = try await body(database)
        try await database.close()
        return value
    } catch {
        try? await database.close()
        throw error
    }
}

enum TemporaryFile {
    static func path(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-\(name)-\(UUID().uuidString).sqlite").path
    }

    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

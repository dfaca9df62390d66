import CloakroomCore
import CloakroomSQLite
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

/// The SQLite session store on a real file: the shared conformance suite, and what only a file can show.
@Suite("SQLite session store")
struct SQLiteSessionStoreTests {
    let clock = ManualClock()

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

    @Test func sqliteSessionsSurviveReopeningTheFile() async throws {
        let path = TemporaryFile.path("reopen")
        defer { TemporaryFile.remove(path) }
        let clock = self.clock
        let id = try await withDatabase(path) { database in
            let manager = SessionManager(store: SQLiteSessionStore(database: database), clock: clock)
            let session = try await manager.load(cookieValue: nil)
            try await manager.signIn(session, userID: "u")
            session.setValue(#"{"theme":"dark"}"#, forKey: "prefs")
            _ = try await manager.commit(session)
            return try #require(session.cookieValue)
        }
        try await withDatabase(path) { database in
            #expect(try await database.schemaVersion() == CloakroomSQLiteDatabase.latestSchemaVersion, "migrations ran once")
            let manager = SessionManager(store: SQLiteSessionStore(database: database), clock: clock)
            let reloaded = try await manager.load(cookieValue: id)
            #expect(reloaded.userID == "u")
            #expect(reloaded.value(forKey: "prefs") == #"{"theme":"dark"}"#)
        }
    }
}

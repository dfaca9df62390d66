import CloakroomCore
import CloakroomSQLite
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

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

/// Opens a real SQLite file, runs `body`, and always closes it.
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

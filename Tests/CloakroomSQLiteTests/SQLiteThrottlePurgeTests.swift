import CloakroomIdentity
import CloakroomSQLite
import CloakroomTesting
import Foundation
import Testing

@Suite("SQLite throttle purge")
struct SQLiteThrottlePurgeTests {
    @Test("the purge deletes in short chunks and counts every row")
    func purgeSpansChunks() async throws {
        let path = TemporaryFile.path("throttle")
        defer { TemporaryFile.remove(path) }
        let database = try await CloakroomSQLiteDatabase.open(path: path)
        do {
            let throttle = SQLiteThrottleStore(database: database)
            let now = Date(timeIntervalSince1970: 1_767_225_600)
            let count = 613  // more than two purge chunks
            for index in 0..<count { _ = try await throttle.recordFailure(key: "k\(index)", now: now, window: 60) }
            _ = try await throttle.recordFailure(key: "recent", now: now.addingTimeInterval(100), window: 60)
            #expect(try await throttle.state(key: "k1", now: now, window: 60)?.failures == 1)
            #expect(try await throttle.purge(before: now.addingTimeInterval(50)) == count)
            #expect(try await throttle.purge(before: now.addingTimeInterval(50)) == 0)
            #expect(try await throttle.state(key: "recent", now: now.addingTimeInterval(100), window: 60)?.failures == 1)
            try await database.close()
        } catch {
            try? await database.close()
            throw error
        }
    }
}

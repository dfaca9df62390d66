import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import CloakroomServer

/// A signed-in page view that changes nothing costs the store no write until the touch interval has
/// passed, then exactly one `touch` (issue 11): counted on a real SQLite file over real HTTP.
@Suite("Store writes per request")
struct StoreWriteCountTests {
    @Test("read-only requests inside the touch interval write nothing; the first one after it touches once")
    func readOnlyRequestsDoNotWrite() async throws {
        let path = TemporaryFile.path("writes")
        defer { TemporaryFile.remove(path) }
        let plain = try await TestServer.make(store: .sqlite(path: path)) {
            $0.sessions.idleTimeout = 1800
            $0.sessions.touchInterval = 60
        }
        let counting = CountingSessionStore(try #require(plain.backends.sessions as? any CompleteSessionStore))
        var edited = plain
        edited.backends = plain.backends.replacingSessions(counting)
        let server = edited
        let clock = server.clock
        try await server.run { (client: any TestClientProtocol) async throws -> Void in
            let visitor = Visitor(client)
            #expect(try await visitor.request(.post, "/api/register", json: credentials("wanda")).status == .created)
            #expect(counting.writes.total > 0, "signing up writes the session")
            counting.reset()

            for _ in 0..<20 {
                clock.advance(by: 2)
                #expect(try await visitor.request(.get, "/api/me").status == .ok)
                #expect(try await visitor.request(.get, "/api/sessions").status == .ok)
            }
            #expect(counting.writes == .init(), "40 read-only requests within 40 s of sign-in wrote \(counting.writes)")
            #expect(counting.loads == 40)

            clock.advance(by: 21)
            #expect(try await visitor.request(.get, "/api/me").status == .ok)
            #expect(counting.writes == .init(touches: 1), "past the touch interval: one touch, nothing else")
            counting.reset()
            #expect(try await visitor.request(.get, "/api/me").status == .ok)
            #expect(counting.writes == .init(), "the next request is inside the new interval")

            // Requests without a session cookie create nothing either (sessions are lazy).
            let stranger = Visitor(client)
            #expect(try await stranger.request(.get, "/api/me").status == .unauthorized)
            #expect(try await stranger.request(.get, "/healthz").status == .ok)
            #expect(counting.writes == .init())
        }
        try await server.backends.close()
    }
}

/// Counts what reaches a real store, and passes every call on.
final class CountingSessionStore: CompleteSessionStore {
    struct Writes: Equatable, Sendable, CustomStringConvertible {
        var inserts = 0, updates = 0, touches = 0, deletes = 0
        var total: Int { inserts + updates + touches + deletes }
        var description: String { "\(inserts) inserts, \(updates) updates, \(touches) touches, \(deletes) deletes" }
    }

    let base: any CompleteSessionStore
    private let counts = Mutex((writes: Writes(), loads: 0))

    init(_ base: any CompleteSessionStore) { self.base = base }

    var writes: Writes { counts.withLock { $0.writes } }
    var loads: Int { counts.withLock { $0.loads } }
    func reset() { counts.withLock { $0 = (Writes(), 0) } }

    func load(key: String, now: Date) async throws -> SessionRecord? {
        counts.withLock { $0.loads += 1 }
        return try await base.load(key: key, now: now)
    }

    func insert(_ record: SessionRecord) async throws {
        counts.withLock { $0.writes.inserts += 1 }
        try await base.insert(record)
    }

    func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        counts.withLock { $0.writes.updates += 1 }
        return try await base.update(record, expectedVersion: expectedVersion)
    }

    func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        counts.withLock { $0.writes.touches += 1 }
        try await base.touch(key: key, lastSeen: lastSeen, idleExpiresAt: idleExpiresAt)
    }

    func delete(key: String) async throws {
        counts.withLock { $0.writes.deletes += 1 }
        try await base.delete(key: key)
    }

    func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        try await base.records(forUser: userID, now: now)
    }

    func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        counts.withLock { $0.writes.deletes += 1 }
        return try await base.deleteAll(forUser: userID, exceptKey: exceptKey)
    }

    func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        try await base.list(now: now, afterKey: afterKey, limit: limit)
    }

    func deleteExpired(now: Date, limit: Int) async throws -> Int {
        try await base.deleteExpired(now: now, limit: limit)
    }

    func ping() async throws { try await base.ping() }
}

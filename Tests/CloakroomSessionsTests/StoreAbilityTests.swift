import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

/// A store with only the five core operations (it forwards them to a real memory store): what a
/// minimal third-party backend looks like.
private struct CoreOnlyStore: SessionStore {
    let inner = MemorySessionStore()
    func load(key: String, now: Date) async throws -> SessionRecord? { try await inner.load(key: key, now: now) }
    func insert(_ record: SessionRecord) async throws { try await inner.insert(record) }
    func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        try await inner.update(record, expectedVersion: expectedVersion)
    }
    func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        try await inner.touch(key: key, lastSeen: lastSeen, idleExpiresAt: idleExpiresAt)
    }
    func delete(key: String) async throws { try await inner.delete(key: key) }
}

@Suite("SessionManager over a store with only the core protocol")
struct StoreAbilityTests {
    let clock = ManualClock()

    @Test func coreOperationsWorkWithoutOptionalAbilities() async throws {
        let manager = SessionManager(store: CoreOnlyStore(), clock: clock)
        let session = try await manager.load(cookieValue: nil)
        session.setValue("1", forKey: "v")
        guard case .set(let id, _) = try await manager.commit(session) else {
            Issue.record("expected a cookie")
            return
        }
        let loaded = try await manager.load(cookieValue: id)
        #expect(loaded.value(forKey: "v") == "1")
        try await manager.signIn(loaded, userID: "u1")
        let newID = try #require(loaded.cookieValue)
        #expect(newID != id)
        #expect(try await manager.load(cookieValue: id).record == nil, "the old ID still loads")
        try await manager.destroy(loaded)
        #expect(try await manager.load(cookieValue: newID).record == nil)
    }

    @Test func perUserOperationsAskForTheIndexAndSayWhatIsMissing() async throws {
        let manager = SessionManager(store: CoreOnlyStore(), clock: clock)
        for operation in ["list", "revoke", "revokeAll", "handle"] {
            do {
                switch operation {
                case "list": _ = try await manager.sessions(ofUser: "u1")
                case "revoke": try await manager.revoke(handle: "h", ofUser: "u1")
                case "revokeAll": try await manager.revokeAll(ofUser: "u1")
                default: _ = try await manager.record(handle: "h")
                }
                Issue.record("\(operation) succeeded on a store without the ability")
            } catch let error as StoreError {
                #expect(error.isUnsupported, "\(operation): \(error)")
                #expect(error.message.hasPrefix("this store cannot"))
            }
        }
        var configuration = SessionConfiguration()
        configuration.maxSessionsPerUser = 2
        let capped = SessionManager(store: CoreOnlyStore(), configuration: configuration, clock: clock)
        let session = try await capped.load(cookieValue: nil)
        await #expect(throws: StoreError.self) { try await capped.signIn(session, userID: "u1") }
    }
}

import CloakroomCore
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
}

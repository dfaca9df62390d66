import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import Synchronization
import Testing

/// Sessions kept in cookies (`CookieSessionStore`), beside a server-side store, through the same
/// `SessionManager` behaviour suite; then what only a cookie session has (size, seal, epochs).
@Suite("Cookie sessions")
struct CookieSessionStoreTests {
    /// The behaviours a cookie session cannot show, and why (also in docs/sessions.md).
    static let notApplicable: [String: String] = [
        "the old cookie is dead after sign-in":
            "the server keeps nothing to delete: the pre-sign-in cookie still opens, as the anonymous session it was (it never carries the user)",
        "a copy of the cookie is dead after sign-out":
            "sign-out expires the cookie in this browser only; a copy opens until its idle expiry, unless the user signs out everywhere (the epoch)",
        "a user's sessions are listed and one can be revoked by its handle":
            "the server never sees the other browsers' cookies, so it cannot list them or end one alone",
        "concurrent writers to one session lose nothing":
            "each concurrent response carries its own cookie and the browser keeps the last; nothing can compare-and-swap",
    ]

    static func cookieStore(epochs: (any SessionEpochStore)? = MemorySessionEpochStore(), name: String = "cloakroom") throws -> CookieSessionStore {
        CookieSessionStore(ring: SealingKeyRing(try .generate(id: "s1")), cookieName: name, epochs: epochs)
    }

    @Test("behaviour suite: memory store", arguments: SessionBehaviourConformance.checkNames)
    func memory(_ check: String) async throws {
        try await SessionBehaviourConformance.run(only: [check]) { clock, configuration in
            SessionManager(store: MemorySessionStore(), configuration: configuration, clock: clock)
        }
    }

    @Test("behaviour suite: cookie store", arguments: SessionBehaviourConformance.checkNames)
    func cookie(_ check: String) async throws {
        try await SessionBehaviourConformance.run(only: [check], notApplicable: Self.notApplicable) { clock, configuration in
            SessionManager(store: try Self.cookieStore(), configuration: configuration, clock: clock)
        }
    }

    @Test("each check listed as not applicable really fails (or is refused) on a cookie store")
    func notApplicableReallyFails() async throws {
        for name in Self.notApplicable.keys {
            await #expect(throws: (any Error).self, "\(name) passes on a cookie store: take it off the list") {
                try await SessionBehaviourConformance.run(only: [name]) { clock, configuration in
                    SessionManager(store: try Self.cookieStore(), configuration: configuration, clock: clock)
                }
            }
        }
    }

    @Test("epoch conformance: memory", arguments: SessionEpochStoreConformance.checkNames)
    func epochs(_ check: String) async throws {
        try await SessionEpochStoreConformance.run(only: [check]) { MemorySessionEpochStore() }
    }

    @Test("a session that would not fit a 4 KB cookie is refused at the write, naming the size; the old cookie still opens")
    func sizeBudget() async throws {
        let clock = ManualClock()
        let manager = SessionManager(store: try Self.cookieStore(), clock: clock)
        let first = try await manager.load(cookieValue: nil)
        first.setValue("kept", forKey: "a")
        guard case .set(let cookie, _) = try await manager.commit(first) else {
            Issue.record("no cookie")
            return
        }
        // 2,900 bytes fit (well under maxDataBytes, 16 KB); 3,100 do not, once sealed and base64'd.
        let session = try await manager.load(cookieValue: cookie)
        try manager.checkFits(session, data: ["a": "kept", "b": String(repeating: "x", count: 2_900)])
        let tooBig = ["a": "kept", "b": String(repeating: "x", count: 3_100)]
        do {
            try manager.checkFits(session, data: tooBig)
            Issue.record("3,100 bytes fit a cookie")
        } catch let error as SessionError {
            #expect(error.isTooLarge)
            #expect(error.message.contains("4096"), "message names the limit: \(error.message)")
        }
        session.setValue(tooBig["b"]!, forKey: "b")
        await #expect(throws: SessionError.self) { _ = try await manager.commit(session) }
        let after = try await manager.load(cookieValue: cookie)
        #expect(after.data == ["a": "kept"])
    }

    @Test("the record is encrypted: neither data nor user is readable in the cookie")
    func encrypted() async throws {
        let manager = SessionManager(store: try Self.cookieStore())
        let session = try await manager.load(cookieValue: nil, userAgent: "Firefox/200")
        session.setValue("SECRET-CART-CONTENTS", forKey: "cart")
        try await manager.signIn(session, userID: "alice-the-user")
        session.setValue("SECRET-CART-CONTENTS", forKey: "cart")
        guard case .set(let cookie, _) = try await manager.commit(session) else {
            Issue.record("no cookie")
            return
        }
        let payload = cookie.split(separator: ".").last.map(String.init) ?? ""
        let bytes = Base64URL.decode(payload) ?? []
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains("SECRET") && !text.contains("alice") && !cookie.contains("alice"))
        #expect(cookie.hasPrefix("a1."), "sealed with AES-256-GCM")
        let reopened = try await manager.load(cookieValue: cookie, userAgent: "Firefox/200")
        #expect(reopened.userID == "alice-the-user" && reopened.value(forKey: "cart") == "SECRET-CART-CONTENTS")
    }

    @Test("a cookie sealed for another name, under a removed key, or expired does not open; a rotated key still opens")
    func sealRules() async throws {
        let old = try SealingKeyRing.Key.generate(id: "k1")
        let new = try SealingKeyRing.Key.generate(id: "k2")
        let epochs = MemorySessionEpochStore()
        let clock = ManualClock()
        func manager(_ ring: SealingKeyRing, name: String = "cloakroom") -> SessionManager {
            SessionManager(store: CookieSessionStore(ring: ring, cookieName: name, epochs: epochs), clock: clock)
        }
        let before = manager(SealingKeyRing(old))
        let session = try await before.load(cookieValue: nil)
        try await before.signIn(session, userID: "alice")
        guard case .set(let cookie, _) = try await before.commit(session) else {
            Issue.record("no cookie")
            return
        }

        #expect(try await manager(try SealingKeyRing(current: new, previous: [old])).load(cookieValue: cookie).userID == "alice")
        #expect(try await manager(SealingKeyRing(new)).load(cookieValue: cookie).record == nil, "opened after its key was removed")
        #expect(try await manager(SealingKeyRing(old), name: "__Host-other").load(cookieValue: cookie).record == nil, "opened under another name")
        clock.advance(by: 31 * 60)
        #expect(try await before.load(cookieValue: cookie).record == nil, "opened after its idle expiry")
    }

    @Test("one epoch read per signed-in request, none for an anonymous one, none for a bad cookie")
    func epochReads() async throws {
        let epochs = CountingEpochs()
        let clock = ManualClock()
        let manager = SessionManager(store: try Self.cookieStore(epochs: epochs), clock: clock)
        let anonymous = try await manager.load(cookieValue: nil)
        anonymous.setValue("1", forKey: "a")
        guard case .set(let anonymousCookie, _) = try await manager.commit(anonymous) else {
            Issue.record("no cookie")
            return
        }
        _ = try await manager.load(cookieValue: anonymousCookie)
        _ = try await manager.load(cookieValue: "a1.s1.xxxxxx.garbage")
        #expect(epochs.reads.load(ordering: .relaxed) == 0)
        let session = try await manager.load(cookieValue: anonymousCookie)
        try await manager.signIn(session, userID: "alice")
        guard case .set(let cookie, _) = try await manager.commit(session) else {
            Issue.record("no cookie")
            return
        }
        let atSignIn = epochs.reads.load(ordering: .relaxed)
        #expect(atSignIn == 1, "sign-in read the epoch \(atSignIn) times")
        for _ in 0..<5 { _ = try await manager.load(cookieValue: cookie) }
        #expect(epochs.reads.load(ordering: .relaxed) == atSignIn + 5)
    }

    @Test("without an epoch table, sign out everywhere says it cannot")
    func noEpochs() async throws {
        let manager = SessionManager(store: try Self.cookieStore(epochs: nil))
        await #expect(throws: StoreError.self) { try await manager.revokeAll(ofUser: "alice") }
        #expect(manager.keepsSessionsInCookies)
        await #expect(throws: StoreError.self) { _ = try await manager.sessions(ofUser: "alice") }
    }
}

/// The memory epoch table, counting its reads.
final class CountingEpochs: SessionEpochStore {
    let inner = MemorySessionEpochStore()
    let reads = Atomic<Int>(0)

    func epoch(forUser userID: String) async throws -> UInt64 {
        reads.add(1, ordering: .relaxed)
        return try await inner.epoch(forUser: userID)
    }

    func advance(forUser userID: String) async throws -> UInt64 {
        try await inner.advance(forUser: userID)
    }
}

import CloakroomCore
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomSessions

@Suite("SessionManager: creation, expiry, rotation, per-user operations")
struct SessionManagerTests {
    let clock = ManualClock()
    let store = MemorySessionStore()

    func manager(_ edit: (inout SessionConfiguration) -> Void = { _ in }) -> SessionManager {
        var configuration = SessionConfiguration(idleTimeout: 1800, absoluteLifetime: 43200, touchInterval: 60)
        edit(&configuration)
        return SessionManager(store: store, configuration: configuration, clock: clock)
    }

    /// Creates a stored session holding `value`, returning its cookie ID.
    func createSession(_ manager: SessionManager, value: String = "1") async throws -> String {
        let session = try await manager.load(cookieValue: nil, userAgent: "UA", ipAddress: "10.0.0.1")
        session.setValue(value, forKey: "v")
        guard case .set(let id, _) = try await manager.commit(session) else {
            Issue.record("expected a cookie")
            return ""
        }
        return id
    }

    @Test("no handle starts with '-' (a command line would read it as an option)")
    func handlesNeverStartWithADash() {
        // With 1 in 64 handles starting with '-' before, 2,000 draws all but surely met one.
        let handles = (0..<2_000).map { _ in SessionManager.newHandle() }
        #expect(!handles.contains { $0.hasPrefix("-") })
        #expect(handles.allSatisfy { $0.utf8.count == 16 })
        #expect(Set(handles).count == handles.count)
    }

    @Test func anonymousVisitorWithNothingStoredWritesNothing() async throws {
        let manager = manager()
        let session = try await manager.load(cookieValue: nil)
        #expect(!session.exists)
        #expect(try await manager.commit(session) == .none)
        #expect(await store.count == 0)
    }

    @Test func storingAValueCreatesTheSessionLazily() async throws {
        let manager = manager()
        let id = try await createSession(manager)
        #expect(await store.count == 1)
        let again = try await manager.load(cookieValue: id)
        #expect(again.value(forKey: "v") == "1")
        #expect(again.record?.userAgent == "UA")
        #expect(again.record?.ipAddress == "10.0.0.1")
    }

    @Test func unknownOrMalformedCookieGivesAFreshSessionAndClearsTheCookie() async throws {
        let manager = manager()
        for value in ["", "x", SecureToken().text, String(repeating: "A", count: 43)] {
            let session = try await manager.load(cookieValue: value)
            #expect(!session.exists)
            #expect(try await manager.commit(session) == .clear)
        }
    }

    @Test func idleTimeoutEndsAnUnusedSession() async throws {
        let manager = manager()
        let id = try await createSession(manager)
        clock.advance(by: 1799)
        #expect(try await manager.load(cookieValue: id).exists)
        clock.advance(by: 1)
        #expect(try await !manager.load(cookieValue: id).exists)
    }

    @Test func activitySlidesTheIdleExpiryButNotTheAbsoluteOne() async throws {
        let manager = manager()
        let id = try await createSession(manager)
        // Use it every 20 minutes for 11h40m: never idle for 30 minutes.
        for _ in 0..<35 {
            clock.advance(by: 1200)
            let session = try await manager.load(cookieValue: id)
            #expect(session.exists)
            _ = try await manager.commit(session)
        }
        clock.advance(by: 1200)  // now 12h after creation
        #expect(try await !manager.load(cookieValue: id).exists, "absolute lifetime reached despite activity")
    }

    @Test func lastSeenIsWrittenAtMostOncePerTouchInterval() async throws {
        let manager = manager()
        let id = try await createSession(manager)
        let key = SecureToken.hash(id)
        let created = try #require(try await store.load(key: key, now: clock.now())).lastSeen
        clock.advance(by: 30)
        let early = try await manager.load(cookieValue: id)
        #expect(try await manager.commit(early) == .none, "no write and no cookie within the touch interval")
        #expect(try await store.load(key: key, now: clock.now())?.lastSeen == created)
        clock.advance(by: 31)
        let late = try await manager.load(cookieValue: id)
        guard case .set(_, let maxAge) = try await manager.commit(late) else {
            Issue.record("touch must refresh the cookie expiry")
            return
        }
        #expect(maxAge == 1800)
        #expect(try await store.load(key: key, now: clock.now())?.lastSeen == clock.now())
    }

    @Test func cookieMaxAgeFollowsTheEarlierExpiry() async throws {
        let manager = manager { $0.absoluteLifetime = 3600 }
        let id = try await createSession(manager)
        // Used every 25 minutes: never idle for 30.
        clock.advance(by: 1500)
        _ = try await manager.commit(try await manager.load(cookieValue: id))
        clock.advance(by: 1500)
        let session = try await manager.load(cookieValue: id)
        session.setValue("2", forKey: "v")
        guard case .set(_, let maxAge) = try await manager.commit(session) else {
            Issue.record("expected a cookie")
            return
        }
        #expect(maxAge == 600, "10 minutes left of the absolute lifetime, less than the 30-minute idle timeout")
        let record = try #require(session.record)
        #expect(manager.expiry(of: record) == record.createdAt.addingTimeInterval(3600))
    }

    @Test func browserSessionCookieHasNoMaxAge() async throws {
        let manager = manager { $0.persistentCookie = false }
        let session = try await manager.load(cookieValue: nil)
        session.setValue("1", forKey: "v")
        #expect(try await manager.commit(session) == .set(id: try #require(session.cookieValue), maxAge: nil))
    }

    @Test("sign-in: a new ID, a new handle, a new CSRF token, and only the keys marked to carry")
    func signInStartsANewSessionKeepingOnlyMarkedKeys() async throws {
        let manager = manager { $0.keptAtSignIn = ["basket"] }
        let anonymous = try await manager.load(cookieValue: nil)
        anonymous.setValue("planted", forKey: "v")
        anonymous.setValue("3 books", forKey: "basket")
        let csrf = anonymous.csrfToken()
        guard case .set(let oldID, _) = try await manager.commit(anonymous) else {
            Issue.record("expected a cookie")
            return
        }
        clock.advance(by: 600)
        let session = try await manager.load(cookieValue: oldID)
        let handle = session.handle
        try await manager.signIn(session, userID: "user-1")
        let newID = try #require(session.cookieValue)
        #expect(newID != oldID)
        #expect(try await !manager.load(cookieValue: oldID).exists, "the old ID stops working at once")
        let reloaded = try await manager.load(cookieValue: newID)
        #expect(reloaded.userID == "user-1")
        #expect(reloaded.value(forKey: "basket") == "3 books", "a key marked to carry is carried")
        #expect(reloaded.value(forKey: "v") == nil, "an unmarked key is left behind")
        #expect(reloaded.value(forKey: Session.csrfKey) == nil, "the CSRF token is never carried")
        #expect(!reloaded.verifyCSRF(csrf))
        #expect(reloaded.handle != handle, "a new session has a new public handle")
        #expect(reloaded.record?.createdAt == clock.now(), "the absolute lifetime counts from the sign-in")
        #expect(reloaded.record?.authenticatedAt == clock.now())
        #expect(try await manager.commit(session) == .set(id: newID, maxAge: 1800))
    }

    @Test("sign-in as another user on a signed-in session carries nothing, marked keys included")
    func signInAsAnotherUserCarriesNothing() async throws {
        let manager = manager { $0.keptAtSignIn = ["basket"] }
        let session = try await manager.load(cookieValue: nil)
        try await manager.signIn(session, userID: "alice")
        session.setValue("alice's books", forKey: "basket")
        _ = try await manager.commit(session)
        try await manager.signIn(session, userID: "mallory")
        let reloaded = try await manager.load(cookieValue: session.cookieValue)
        #expect(reloaded.userID == "mallory")
        #expect(reloaded.value(forKey: "basket") == nil)
        try await manager.signIn(reloaded, userID: "mallory")
        #expect(try await manager.load(cookieValue: reloaded.cookieValue).userID == "mallory")
    }

    @Test("regenerate keeps the session (data, handle, user) under a new ID")
    func regenerateKeepsTheSession() async throws {
        let manager = manager()
        let oldID = try await createSession(manager, value: "kept")
        let session = try await manager.load(cookieValue: oldID)
        let handle = session.handle
        try await manager.regenerate(session)
        let reloaded = try await manager.load(cookieValue: session.cookieValue)
        #expect(session.cookieValue != oldID)
        #expect(reloaded.value(forKey: "v") == "kept")
        #expect(reloaded.handle == handle)
        #expect(try await !manager.load(cookieValue: oldID).exists)
    }

    @Test func destroyDeletesTheRecordAndClearsTheCookie() async throws {
        let manager = manager()
        let id = try await createSession(manager)
        let session = try await manager.load(cookieValue: id)
        try await manager.destroy(session)
        #expect(try await manager.commit(session) == .clear)
        #expect(await store.count == 0)
    }

    @Test func perUserListRevokeAndRevokeOthers() async throws {
        let manager = manager()
        var sessions: [Session] = []
        for _ in 0..<3 {
            let session = try await manager.load(cookieValue: nil)
            try await manager.signIn(session, userID: "u")
            sessions.append(session)
            clock.advance(by: 10)
        }
        let other = try await manager.load(cookieValue: nil)
        try await manager.signIn(other, userID: "someone-else")

        let listed = try await manager.sessions(ofUser: "u")
        #expect(listed.count == 3)
        #expect(listed.first?.handle == sessions[2].handle, "most recently used first")

        try await manager.revoke(handle: try #require(sessions[0].handle), ofUser: "u")
        #expect(try await manager.sessions(ofUser: "u").count == 2)
        await #expect(throws: SessionError.self) {
            try await manager.revoke(handle: try #require(other.handle), ofUser: "u")
        }

        let removed = try await manager.revokeAll(ofUser: "u", keeping: sessions[2])
        #expect(removed == 1)
        #expect(try await manager.sessions(ofUser: "u").map(\.handle) == [sessions[2].handle])
        #expect(try await manager.sessions(ofUser: "someone-else").count == 1)
        #expect(try await manager.revokeAll(ofUser: "u") == 1)
    }

    @Test func sessionCapRefuses() async throws {
        let manager = manager {
            $0.maxSessionsPerUser = 2
            $0.overflowPolicy = .refuse
        }
        for _ in 0..<2 {
            try await manager.signIn(try await manager.load(cookieValue: nil), userID: "u")
        }
        await #expect(throws: SessionError.self) {
            try await manager.signIn(try await manager.load(cookieValue: nil), userID: "u")
        }
        #expect(try await manager.sessions(ofUser: "u").count == 2)
    }

    @Test func sessionCapEvictsTheLeastRecentlyUsed() async throws {
        let manager = manager {
            $0.maxSessionsPerUser = 2
            $0.overflowPolicy = .evictOldest
        }
        var handles: [String?] = []
        for _ in 0..<3 {
            let session = try await manager.load(cookieValue: nil)
            try await manager.signIn(session, userID: "u")
            handles.append(session.handle)
            clock.advance(by: 5)
        }
        let remaining = Set(try await manager.sessions(ofUser: "u").map(\.handle))
        #expect(remaining == Set([handles[1], handles[2]].compactMap { $0 }))
    }

    @Test func dataLimitsAreEnforced() async throws {
        let manager = manager {
            $0.maxDataKeys = 3
            $0.maxDataBytes = 100
        }
        let session = try await manager.load(cookieValue: nil)
        for i in 0..<4 { session.setValue("x", forKey: "k\(i)") }
        await #expect(throws: SessionError.self) { _ = try await manager.commit(session) }
        let big = try await manager.load(cookieValue: nil)
        big.setValue(String(repeating: "x", count: 200), forKey: "k")
        await #expect(throws: SessionError.self) { _ = try await manager.commit(big) }
        #expect(await store.count == 0, "nothing half-written")
    }

    @Test func removedKeysStayRemovedAndOthersMerge() async throws {
        let manager = manager()
        let session = try await manager.load(cookieValue: nil)
        session.setValue("1", forKey: "a")
        session.setValue("2", forKey: "b")
        guard case .set(let id, _) = try await manager.commit(session) else { return }
        let first = try await manager.load(cookieValue: id)
        let second = try await manager.load(cookieValue: id)
        first.removeValue(forKey: "a")
        second.setValue("3", forKey: "c")
        _ = try await manager.commit(first)
        _ = try await manager.commit(second)
        let final = try await manager.load(cookieValue: id)
        #expect(final.data == ["b": "2", "c": "3"])
    }

    @Test func csrfTokenIsPerSessionAndComparedSafely() async throws {
        let manager = manager()
        let session = try await manager.load(cookieValue: nil)
        #expect(!session.verifyCSRF("anything"), "no token before one is issued")
        let token = session.csrfToken()
        #expect(session.csrfToken() == token)
        #expect(session.verifyCSRF(token))
        #expect(!session.verifyCSRF(token + "x"))
        #expect(!session.verifyCSRF(nil))
        #expect(session.exists, "issuing a token creates the session")
    }

    @Test func sweeperRemovesExpiredSessionsInBatches() async throws {
        let manager = manager {
            $0.idleTimeout = 60
            $0.absoluteLifetime = 600
        }
        for _ in 0..<25 { _ = try await createSession(manager) }
        clock.advance(by: 30)
        let keep = try await createSession(manager)
        clock.advance(by: 45)
        let sweeper = SessionSweeper(store: store, batchSize: 10, clock: clock)
        #expect(try await sweeper.sweepOnce() == 25)
        #expect(await store.count == 1)
        #expect(try await manager.load(cookieValue: keep).exists)
    }
}

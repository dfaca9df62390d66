public import CloakroomSessions
import Foundation

/// What a browser sees of sessions, checked through `SessionManager` over any store, server-side
/// or kept in cookies (`CookieSessionStore`): the checks carry the cookie from response to
/// request the way a browser does.
///
/// `makeManager` builds a manager over a fresh store with the given clock and configuration. A
/// store that cannot show a behaviour passes its name in `notApplicable`, with the reason, and the
/// check is skipped (`notApplicableChecks` in the tests document them).
public enum SessionBehaviourConformance {
    /// What a check is given: a manager over a fresh store, the clock it reads, and the cookie
    /// traffic helpers.
    public struct Fixture: Sendable {
        public let manager: SessionManager
        public let clock: ManualClock
    }

    /// The names of every check, in order.
    public static var checkNames: [String] { checks.map(\.0) }

    /// The configuration every check runs with: 10-minute idle timeout, 1-hour lifetime, touch at
    /// most once a minute, `cart` kept across sign-in.
    public static let configuration = SessionConfiguration(
        idleTimeout: 600,
        absoluteLifetime: 3600,
        touchInterval: 60,
        keptAtSignIn: ["cart"]
    )

    /// Runs every check (or those named in `only`) but those in `notApplicable` (name → why not).
    public static func run(
        only: Set<String>? = nil,
        notApplicable: [String: String] = [:],
        makeManager: @Sendable (ManualClock, SessionConfiguration) async throws -> SessionManager
    ) async throws {
        let unknown = Set(notApplicable.keys).subtracting(checkNames)
        guard unknown.isEmpty else { throw ConformanceFailure(description: "no such checks: \(unknown.sorted())") }
        let applicable = Set(only ?? Set(checkNames)).subtracting(notApplicable.keys)
        try await ConformanceChecks<Fixture>(checks: checks).run(only: applicable) {
            let clock = ManualClock()
            return Fixture(manager: try await makeManager(clock, configuration), clock: clock)
        }
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(description: message()) }
    }

    /// One request: the session for `cookie`, edited by `handle`, committed; returns the session
    /// and the cookie the browser holds afterwards.
    @discardableResult
    static func request(
        _ manager: SessionManager,
        cookie: String?,
        _ handle: (Session) async throws -> Void = { _ in }
    ) async throws -> (session: Session, cookie: String?) {
        let session = try await manager.load(cookieValue: cookie)
        try await handle(session)
        switch try await manager.commit(session) {
        case .none: return (session, cookie)
        case .set(let id, _): return (session, id)
        case .clear: return (session, nil)
        }
    }

    typealias Check = @Sendable (Fixture) async throws -> Void

    static let checks: [(String, Check)] = [
        (
            "a visitor who stores nothing gets no cookie",
            { f in
                let (_, cookie) = try await request(f.manager, cookie: nil) { _ = $0.value(forKey: "x") }
                try expect(cookie == nil, "a cookie was set for an empty session")
            }
        ),
        (
            "data round-trips through the cookie",
            { f in
                let value = #"{"items":[1,2,3],"note":"héllo ✓"}"#
                let (_, cookie) = try await request(f.manager, cookie: nil) { $0.setValue(value, forKey: "cart") }
                try expect(cookie != nil, "no cookie after storing data")
                f.clock.advance(by: 5)
                let (next, _) = try await request(f.manager, cookie: cookie)
                try expect(next.value(forKey: "cart") == value, "read back \(String(describing: next.value(forKey: "cart")))")
            }
        ),
        (
            "removing a key is kept",
            { f in
                var (_, cookie) = try await request(f.manager, cookie: nil) {
                    $0.setValue("1", forKey: "a")
                    $0.setValue("2", forKey: "b")
                }
                (_, cookie) = try await request(f.manager, cookie: cookie) { $0.removeValue(forKey: "a") }
                let (next, _) = try await request(f.manager, cookie: cookie)
                try expect(next.data == ["b": "2"], "data after removal: \(next.data)")
            }
        ),
        (
            "a cookie that is not ours is a new anonymous session",
            { f in
                let (_, good) = try await request(f.manager, cookie: nil) { $0.setValue("1", forKey: "a") }
                guard let good else { throw ConformanceFailure(description: "no cookie") }
                var bytes = Array(good.utf8)
                let index = bytes.count / 2
                bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
                for bad in [String(decoding: bytes, as: UTF8.self), "garbage", "", String(repeating: "x", count: 5000)] {
                    let session = try await f.manager.load(cookieValue: bad)
                    try expect(session.record == nil && session.data.isEmpty, "cookie \(bad.prefix(20))… opened a session")
                }
            }
        ),
        (
            "sign-in gives a new cookie, a new handle, and keeps only the kept keys",
            { f in
                let (before, cookie) = try await request(f.manager, cookie: nil) {
                    $0.setValue("3 books", forKey: "cart")
                    $0.setValue("planted", forKey: "other")
                }
                let (signedIn, after) = try await request(f.manager, cookie: cookie) { try await f.manager.signIn($0, userID: "alice") }
                try expect(after != nil && after != cookie, "the cookie did not change at sign-in")
                try expect(signedIn.handle != before.handle, "the handle did not change at sign-in")
                let (next, _) = try await request(f.manager, cookie: after)
                try expect(next.userID == "alice", "signed-in user not read back: \(String(describing: next.userID))")
                try expect(next.data == ["cart": "3 books"], "data after sign-in: \(next.data)")
                try expect(next.record?.authenticatedAt != nil, "no sign-in time")
            }
        ),
        (
            "the cookie from before sign-in does not carry the user",
            { f in
                let (_, anonymous) = try await request(f.manager, cookie: nil) { $0.setValue("1", forKey: "a") }
                _ = try await request(f.manager, cookie: anonymous) { try await f.manager.signIn($0, userID: "alice") }
                let (old, _) = try await request(f.manager, cookie: anonymous)
                try expect(old.userID == nil, "the pre-sign-in cookie is signed in as \(String(describing: old.userID))")
            }
        ),
        (
            "the old cookie is dead after sign-in",
            { f in
                let (_, anonymous) = try await request(f.manager, cookie: nil) { $0.setValue("1", forKey: "a") }
                _ = try await request(f.manager, cookie: anonymous) { try await f.manager.signIn($0, userID: "alice") }
                let old = try await f.manager.load(cookieValue: anonymous)
                try expect(old.record == nil, "the pre-sign-in session still loads")
            }
        ),
        (
            "idle timeout ends the session; activity slides it",
            { f in
                var (_, cookie) = try await request(f.manager, cookie: nil) { $0.setValue("1", forKey: "a") }
                for _ in 0..<3 {
                    f.clock.advance(by: 500)
                    let (session, next) = try await request(f.manager, cookie: cookie)
                    try expect(session.record != nil, "session ended within its idle timeout")
                    cookie = next
                }
                f.clock.advance(by: 601)
                let late = try await f.manager.load(cookieValue: cookie)
                try expect(late.record == nil, "session still live after 601 s idle")
            }
        ),
        (
            "no write inside the touch interval",
            { f in
                let (_, cookie) = try await request(f.manager, cookie: nil) { $0.setValue("1", forKey: "a") }
                f.clock.advance(by: 30)
                let (session, _) = try await request(f.manager, cookie: cookie)
                let action = try await f.manager.commit(session)
                try expect(action == .none, "a read-only request inside the touch interval sent \(action)")
            }
        ),
        (
            "the absolute lifetime ends an active session",
            { f in
                var (_, cookie) = try await request(f.manager, cookie: nil) { $0.setValue("1", forKey: "a") }
                for _ in 0..<7 {
                    f.clock.advance(by: 500)
                    (_, cookie) = try await request(f.manager, cookie: cookie) { $0.setValue("\(Int.random(in: 0...9))", forKey: "b") }
                }
                f.clock.advance(by: 200)
                let late = try await f.manager.load(cookieValue: cookie)
                try expect(late.record == nil, "session live past its absolute lifetime")
            }
        ),
        (
            "sign-out clears the cookie",
            { f in
                let (_, cookie) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                let session = try await f.manager.load(cookieValue: cookie)
                try await f.manager.destroy(session)
                let action = try await f.manager.commit(session)
                try expect(action == .clear, "sign-out sent \(action)")
            }
        ),
        (
            "a copy of the cookie is dead after sign-out",
            { f in
                let (_, cookie) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                _ = try await request(f.manager, cookie: cookie) { try await f.manager.destroy($0) }
                let copy = try await f.manager.load(cookieValue: cookie)
                try expect(copy.record == nil, "a copy of the signed-out cookie still loads")
            }
        ),
        (
            "sign out everywhere ends every copy of every cookie of the user",
            { f in
                let (_, phone) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                let (_, laptop) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                let (_, bob) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "bob") }
                try await f.manager.revokeAll(ofUser: "alice")
                for (name, cookie) in [("phone", phone), ("laptop", laptop)] {
                    let session = try await f.manager.load(cookieValue: cookie)
                    try expect(session.record == nil, "alice's \(name) cookie still loads")
                }
                let other = try await f.manager.load(cookieValue: bob)
                try expect(other.userID == "bob", "bob was signed out too")
            }
        ),
        (
            "sign out everywhere else keeps the current session",
            { f in
                let (_, phone) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                let (_, laptop) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                let (_, kept) = try await request(f.manager, cookie: laptop) { try await f.manager.revokeAll(ofUser: "alice", keeping: $0) }
                let stillHere = try await f.manager.load(cookieValue: kept)
                try expect(stillHere.userID == "alice", "the session that ended the others was ended too")
                let gone = try await f.manager.load(cookieValue: phone)
                try expect(gone.record == nil, "the other session still loads")
                _ = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                let again = try await f.manager.load(cookieValue: kept)
                try expect(again.userID == "alice", "a later sign-in elsewhere ended the kept session")
            }
        ),
        (
            "a user's sessions are listed and one can be revoked by its handle",
            { f in
                let (phoneSession, phone) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                let (_, laptop) = try await request(f.manager, cookie: nil) { try await f.manager.signIn($0, userID: "alice") }
                let listed = try await f.manager.sessions(ofUser: "alice")
                try expect(listed.count == 2, "listed \(listed.count) sessions")
                guard let handle = phoneSession.handle else { throw ConformanceFailure(description: "no handle") }
                try await f.manager.revoke(handle: handle, ofUser: "alice")
                try expect(try await f.manager.load(cookieValue: phone).record == nil, "the revoked session still loads")
                try expect(try await f.manager.load(cookieValue: laptop).userID == "alice", "the other session ended")
            }
        ),
        (
            "data over the limit is refused at the write and nothing is lost",
            { f in
                let (_, cookie) = try await request(f.manager, cookie: nil) { $0.setValue("kept", forKey: "a") }
                let session = try await f.manager.load(cookieValue: cookie)
                let huge = String(repeating: "x", count: 20_000)
                do {
                    try f.manager.checkFits(session, data: session.data.merging(["big": huge]) { $1 })
                    throw ConformanceFailure(description: "checkFits accepted 20,000 bytes")
                } catch let error as SessionError {
                    try expect(error.isTooLarge, "checkFits threw \(error)")
                }
                session.setValue(huge, forKey: "big")
                do {
                    _ = try await f.manager.commit(session)
                    throw ConformanceFailure(description: "a commit of 20,000 bytes succeeded")
                } catch let error as SessionError {
                    try expect(error.isTooLarge, "commit threw \(error)")
                }
                let after = try await f.manager.load(cookieValue: cookie)
                try expect(after.data == ["a": "kept"], "data after a refused write: \(after.data)")
            }
        ),
        (
            "concurrent writers to one session lose nothing",
            { f in
                let (_, cookie) = try await request(f.manager, cookie: nil) { $0.setValue("0", forKey: "seed") }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<20 {
                        group.addTask { _ = try await request(f.manager, cookie: cookie) { $0.setValue("\(i)", forKey: "k\(i)") } }
                    }
                    try await group.waitForAll()
                }
                let final = try await f.manager.load(cookieValue: cookie)
                try expect(final.data.count == 21, "after 20 concurrent writers the session holds \(final.data.count) keys")
            }
        ),
    ]
}

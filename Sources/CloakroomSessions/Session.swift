import CloakroomCore
import Foundation
import Synchronization

/// The session of one request: read and edited by handlers, written back by `SessionManager.commit`.
///
/// A reference shared by the middleware and the handler; its state is behind a `Mutex`.
/// Edits are recorded key by key so that a commit can merge them into a record another
/// request changed in the meantime (no lost writes).
public final class Session: Sendable {
    struct State: Sendable {
        /// The raw ID the client holds (only once a record exists).
        var id: String?
        var record: SessionRecord?
        var changed: [String: String] = [:]
        var removed: Set<String> = []
        /// The cookie must be (re)sent: new ID, or expiry moved.
        var cookieDirty = false
        /// The cookie must be expired in the browser.
        var clearCookie = false
        /// The client sent a session cookie.
        var cookiePresented = false
        /// User-Agent and IP of this request, recorded on creation and sign-in.
        var userAgent: String?
        var ipAddress: String?
        /// With a `CookieSessionStore`: the user's revocation epoch the cookie is sealed under.
        var epoch: UInt64 = 0
    }

    let state: Mutex<State>

    init(state: State) {
        self.state = Mutex(state)
    }

    /// True when a server-side record exists (or will, at commit).
    public var exists: Bool { state.withLock { $0.record != nil || !$0.changed.isEmpty } }

    /// The signed-in user, nil if anonymous.
    public var userID: String? { state.withLock { $0.record?.userID } }

    /// The public handle of this session, nil until it exists.
    public var handle: String? { state.withLock { $0.record?.handle } }

    /// A snapshot of the stored record, nil until it exists.
    public var record: SessionRecord? { state.withLock { $0.record } }

    /// The value stored under `key` (a JSON text), including edits not yet committed.
    public func value(forKey key: String) -> String? {
        state.withLock { state in
            if state.removed.contains(key) { return nil }
            return state.changed[key] ?? state.record?.data[key]
        }
    }

    /// All values, including edits not yet committed.
    public var data: [String: String] {
        state.withLock { state in
            var data = state.record?.data ?? [:]
            for key in state.removed { data[key] = nil }
            data.merge(state.changed) { $1 }
            return data
        }
    }

    /// Stores `value` under `key`; creates the session at commit if there is none (lazy creation).
    public func setValue(_ value: String, forKey key: String) {
        state.withLock { state in
            state.changed[key] = value
            state.removed.remove(key)
        }
    }

    /// Removes `key`.
    public func removeValue(forKey key: String) {
        state.withLock { state in
            state.changed[key] = nil
            if state.record?.data[key] != nil { state.removed.insert(key) }
        }
    }

    /// The CSRF token bound to this session, created (and the session with it) on first use.
    ///
    /// OWASP CSRF Prevention Cheat Sheet: synchronizer token pattern, one token per session.
    public func csrfToken() -> String {
        if let existing = value(forKey: Session.csrfKey) { return existing }
        let token = SecureToken().text
        setValue(token, forKey: Session.csrfKey)
        return token
    }

    /// True when `candidate` equals this session's CSRF token (constant time); false if it has none.
    public func verifyCSRF(_ candidate: String?) -> Bool {
        guard let candidate, let expected = value(forKey: Session.csrfKey) else { return false }
        return ConstantTime.equals(candidate, expected)
    }

    /// The key the CSRF token is kept under.
    public static let csrfKey = "_csrf"

    /// The raw session ID, for the middleware's cookie. Never log it.
    public var cookieValue: String? { state.withLock { $0.id } }
}

public import CloakroomCore
import CoreMetrics
public import Foundation
public import Logging
import Synchronization

/// Loads, commits, rotates and ends sessions over a `SessionStore`.
///
/// - IDs: 256-bit `SecureToken`s; the store keys on their SHA-256 (`SecureToken.hashed`).
/// - Expiry: idle (sliding) and absolute, both checked here on every load with the current
///   configuration, and by the store through `expiresAt`.
/// - Writes: none for an anonymous visitor who stores nothing; data writes only when edited,
///   merged key by key under compare-and-swap; `lastSeen` at most once per `touchInterval`.
/// - Abilities: load, commit, sign-in and destroy need only the core `SessionStore`; per-user
///   operations (listing, revoking, the session cap) need `SessionUserIndex`, `record(handle:)`
///   needs `IterableSessionStore`, and throw `StoreError.unsupported` on a store without them.
/// - Sign-in regenerates the ID (OWASP: renew the session ID after any privilege level change).
public struct SessionManager: Sendable {
    /// What the middleware must do with the cookie after a commit.
    public enum CookieAction: Sendable, Equatable {
        /// Nothing: the browser's cookie is still right.
        case none
        /// Send the ID; `maxAge` nil means a browser-session cookie.
        case set(id: String, maxAge: Int?)
        /// Expire the cookie in the browser.
        case clear
    }

    /// The store sessions live in.
    public let store: any SessionStore
    /// The behaviour settings.
    public let configuration: SessionConfiguration
    /// Where time comes from.
    public let clock: any CloakroomClock
    let logger: Logger
    /// Counters of sessions created, loaded and found expired (nil: none kept).
    let metrics: SessionMetrics?
    /// Whether the store needs signed-in sessions' IDs to carry their user's `KeyTag`.
    let tagsKeys: Bool
    /// The store when it keeps sessions in the cookie itself (the cookie's value is the sealed record).
    let cookieStore: CookieSessionStore?

    /// Whether sessions live in the browsers' cookies (`CookieSessionStore`): the server can then
    /// neither list a user's sessions nor end one by its handle.
    public var keepsSessionsInCookies: Bool { cookieStore != nil }

    /// Creates a manager.
    public init(
        store: any SessionStore,
        configuration: SessionConfiguration = .init(),
        clock: any CloakroomClock = SystemClock(),
        logger: Logger = Logger(label: "cloakroom.sessions"),
        metrics: SessionMetrics? = nil
    ) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.tagsKeys = (store as? any KeyTaggedStore)?.requiresKeyTags ?? false
        self.cookieStore = store as? CookieSessionStore
    }

    /// The session for a request: the stored one if `cookieValue` names a live session, else a fresh,
    /// not yet stored one. Never throws for a bad cookie; throws only when the store fails.
    public func load(cookieValue: String?, userAgent: String? = nil, ipAddress: String? = nil) async throws -> Session {
        var state = Session.State(userAgent: userAgent.map(Self.capped(userAgent:)), ipAddress: ipAddress)
        state.cookiePresented = cookieValue != nil
        if let cookies = cookieStore {
            guard let cookieValue else { return Session(state: state) }
            let now = clock.now()
            guard let opened = try await cookies.open(cookieValue, now: now) else {
                metrics?.notFound.increment()
                return Session(state: state)
            }
            guard isLive(opened.record, at: now) else {
                metrics?.expiredOnRequest.increment()
                return Session(state: state)
            }
            var record = opened.record
            record.userAgent = state.userAgent
            record.ipAddress = state.ipAddress
            state.id = cookieValue
            state.record = record
            state.epoch = opened.epoch
            metrics?.loaded.increment()
            return Session(state: state)
        }
        if let cookieValue, let token = SecureToken(validating: cookieValue) {
            if let record = try await store.load(key: token.hashed, now: clock.now()) {
                if isLive(record, at: clock.now()) {
                    state.id = token.text
                    state.record = record
                    metrics?.loaded.increment()
                } else {
                    metrics?.expiredOnRequest.increment()
                }
            } else {
                metrics?.notFound.increment()
            }
        }
        return Session(state: state)
    }

    /// Whether `record` is within both its idle timeout and its absolute lifetime under the
    /// current configuration (so lowering a timeout takes effect for existing sessions).
    public func isLive(_ record: SessionRecord, at now: Date) -> Bool {
        !record.isExpired(at: now)
            && record.lastSeen.addingTimeInterval(configuration.idleTimeout) > now
            && record.createdAt.addingTimeInterval(configuration.absoluteLifetime) > now
    }

    /// When the session will end if unused from now on: the earlier of its idle and absolute expiry.
    public func expiry(of record: SessionRecord) -> Date {
        min(
            record.expiresAt,
            record.lastSeen.addingTimeInterval(configuration.idleTimeout),
            record.createdAt.addingTimeInterval(configuration.absoluteLifetime)
        )
    }

    /// Signs `userID` in on `session`: a new session (new ID, new handle, new CSRF token) replaces
    /// it, the old one deleted at once; only the `keptAtSignIn` keys are carried over.
    ///
    /// Enforces `maxSessionsPerUser`. Throws `SessionError.tooManySessions` under the `refuse` policy.
    public func signIn(_ session: Session, userID: String) async throws {
        let now = clock.now()
        if let limit = configuration.maxSessionsPerUser {
            let currentKey = session.record?.key
            let others = try await userIndex("count a user's sessions").records(forUser: userID, now: now).filter { $0.key != currentKey }
            if others.count >= limit {
                switch configuration.overflowPolicy {
                case .refuse:
                    throw SessionError.tooManySessions(limit: limit)
                case .evictOldest:
                    let sorted = others.sorted { $0.lastSeen < $1.lastSeen }
                    for victim in sorted.prefix(others.count - limit + 1) {
                        try await store.delete(key: victim.key)
                    }
                }
            }
        }
        try await rotate(session, now: now, signingIn: userID) { record in
            record.userID = userID
            record.authenticatedAt = now
        }
    }

    /// Gives the session a new ID now (old ID dead at once), keeping its data.
    public func regenerate(_ session: Session) async throws {
        try await rotate(session, now: clock.now()) { _ in }
    }

    /// A new ID for `session`. With `signingIn`, a new session altogether (new handle, new
    /// creation time, no CSRF token) holding only the `keptAtSignIn` keys, and those only from an
    /// anonymous session or one of the same user; without, the same session under a new ID.
    private func rotate(_ session: Session, now: Date, signingIn userID: String? = nil, edit: (inout SessionRecord) -> Void) async throws {
        let snapshot = session.state.withLock { $0 }
        let owner = userID ?? snapshot.record?.userID
        let token = SecureToken(tag: tagsKeys ? owner.map(KeyTag.init(user:)) : nil)
        var record = snapshot.record ?? newRecord(key: token.hashed, now: now, state: snapshot)
        record.key = token.hashed
        for key in snapshot.removed { record.data[key] = nil }
        record.data.merge(snapshot.changed) { $1 }
        if let userID {
            let previousUser = snapshot.record?.userID
            let carried = previousUser == nil || previousUser == userID
            var fresh = newRecord(key: token.hashed, now: now, state: snapshot)
            fresh.data = carried ? record.data.filter { configuration.keptAtSignIn.contains($0.key) && $0.key != Session.csrfKey } : [:]
            record = fresh
        }
        try checkLimits(record.data)
        record.lastSeen = now
        record.idleExpiresAt = now.addingTimeInterval(configuration.idleTimeout)
        record.userAgent = snapshot.userAgent ?? record.userAgent
        record.ipAddress = snapshot.ipAddress ?? record.ipAddress
        record.version = 1
        edit(&record)
        // The new ID: the sealed record itself with sessions kept in cookies (nothing is stored),
        // else the token whose hash keys the inserted record.
        let id: String
        var epoch = snapshot.epoch
        if let cookies = cookieStore {
            record.key = CookieSessionStore.key(handle: record.handle)
            // A sign-in seals under the user's current epoch; another rotation keeps the cookie's.
            if let userID { epoch = try await cookies.epochs?.epoch(forUser: userID) ?? 0 }
            id = try cookies.seal(record, epoch: epoch, expires: expiry(of: record))
        } else {
            try await store.insert(record)
            id = token.text
        }
        if userID != nil || snapshot.record == nil { metrics?.created.increment() }
        if cookieStore == nil, let old = snapshot.record {
            try await store.delete(key: old.key)
        }
        let rotated = record
        session.state.withLock { state in
            state.id = id
            state.record = rotated
            state.epoch = epoch
            state.changed = [:]
            state.removed = []
            state.cookieDirty = true
            state.clearCookie = false
        }
    }

    /// Ends the session now: the record is deleted and the cookie will be expired.
    public func destroy(_ session: Session) async throws {
        let (key, userID, handle) = session.state.withLock { ($0.record?.key, $0.record?.userID, $0.record?.handle) }
        if let key { try await store.delete(key: key) }
        if let userID {
            logger.info("signed out", metadata: ["user": "\(userID)", "session": "\(handle ?? "-")"])
        }
        session.state.withLock { state in
            state.id = nil
            state.record = nil
            state.changed = [:]
            state.removed = []
            state.cookieDirty = false
            state.clearCookie = true
        }
    }

    /// Writes what the request changed and says what to do with the cookie.
    public func commit(_ session: Session) async throws -> CookieAction {
        let now = clock.now()
        let snapshot = session.state.withLock { $0 }
        if snapshot.clearCookie { return snapshot.cookiePresented ? .clear : .none }
        if let cookies = cookieStore { return try commit(session, snapshot: snapshot, into: cookies, now: now) }

        guard var record = snapshot.record else {
            // Lazy creation: no record is written for a visitor who stored nothing.
            guard !snapshot.changed.isEmpty else {
                return snapshot.cookiePresented ? .clear : .none
            }
            let token = SecureToken()
            var fresh = newRecord(key: token.hashed, now: now, state: snapshot)
            fresh.data = snapshot.changed
            try checkLimits(fresh.data)
            try await store.insert(fresh)
            metrics?.created.increment()
            session.state.withLock { state in
                state.id = token.text
                state.record = fresh
                state.changed = [:]
                state.cookieDirty = false
            }
            return .set(id: token.text, maxAge: cookieMaxAge(fresh, now: now))
        }
        guard let id = snapshot.id else { return .none }

        if !snapshot.changed.isEmpty || !snapshot.removed.isEmpty {
            var attempt = 0
            while true {
                var next = record
                for key in snapshot.removed { next.data[key] = nil }
                next.data.merge(snapshot.changed) { $1 }
                try checkLimits(next.data)
                next.version = record.version + 1
                next.lastSeen = now
                next.idleExpiresAt = min(now.addingTimeInterval(configuration.idleTimeout), next.absoluteExpiresAt)
                if try await store.update(next, expectedVersion: record.version) {
                    record = next
                    break
                }
                attempt += 1
                if attempt <= configuration.maxCommitRetries {
                    // Jittered backoff spreads out writers that keep colliding on one session.
                    let ceiling = UInt64(min(attempt, 10)) * 2_000_000
                    try? await Task.sleep(nanoseconds: UInt64.random(in: 0...ceiling))
                }
                guard attempt <= configuration.maxCommitRetries,
                    let fresh = try await store.load(key: record.key, now: now)
                else {
                    if attempt > configuration.maxCommitRetries { throw SessionError.commitConflict() }
                    // The session ended (revoked or expired) while this request ran.
                    session.state.withLock {
                        $0.record = nil
                        $0.id = nil
                    }
                    return .clear
                }
                record = fresh
            }
            let committed = record
            session.state.withLock { state in
                state.record = committed
                state.changed = [:]
                state.removed = []
            }
            return .set(id: id, maxAge: cookieMaxAge(record, now: now))
        }

        if now.timeIntervalSince(record.lastSeen) >= configuration.touchInterval {
            let idle = min(now.addingTimeInterval(configuration.idleTimeout), record.absoluteExpiresAt)
            try await store.touch(key: record.key, lastSeen: now, idleExpiresAt: idle)
            record.lastSeen = now
            record.idleExpiresAt = idle
            let touched = record
            session.state.withLock { $0.record = touched }
            return .set(id: id, maxAge: cookieMaxAge(record, now: now))
        }
        return snapshot.cookieDirty ? .set(id: id, maxAge: cookieMaxAge(record, now: now)) : .none
    }

    /// The commit of a session kept in a cookie: the record, changed or with its expiry moved, is
    /// sealed into a new cookie value; nothing is written on the server.
    private func commit(_ session: Session, snapshot: Session.State, into cookies: CookieSessionStore, now: Date) throws -> CookieAction {
        guard var record = snapshot.record else {
            guard !snapshot.changed.isEmpty else { return snapshot.cookiePresented ? .clear : .none }
            var fresh = newRecord(key: "", now: now, state: snapshot)
            fresh.key = CookieSessionStore.key(handle: fresh.handle)
            fresh.data = snapshot.changed
            try checkLimits(fresh.data)
            let sealed = try cookies.seal(fresh, epoch: 0, expires: expiry(of: fresh))
            metrics?.created.increment()
            let created = fresh
            session.state.withLock { state in
                state.id = sealed
                state.record = created
                state.epoch = 0
                state.changed = [:]
                state.cookieDirty = false
            }
            return .set(id: sealed, maxAge: cookieMaxAge(created, now: now))
        }
        var reseal = snapshot.cookieDirty
        if !snapshot.changed.isEmpty || !snapshot.removed.isEmpty {
            for key in snapshot.removed { record.data[key] = nil }
            record.data.merge(snapshot.changed) { $1 }
            try checkLimits(record.data)
            record.version += 1
            reseal = true
        } else if now.timeIntervalSince(record.lastSeen) >= configuration.touchInterval {
            reseal = true
        }
        guard reseal else { return .none }
        if record.lastSeen < now {
            record.lastSeen = now
            record.idleExpiresAt = min(now.addingTimeInterval(configuration.idleTimeout), record.absoluteExpiresAt)
        }
        let sealed = try cookies.seal(record, epoch: snapshot.epoch, expires: expiry(of: record))
        let committed = record
        session.state.withLock { state in
            state.id = sealed
            state.record = committed
            state.changed = [:]
            state.removed = []
            state.cookieDirty = false
        }
        return .set(id: sealed, maxAge: cookieMaxAge(committed, now: now))
    }

    // MARK: - Per-user operations

    /// The live sessions of `userID`, most recently used first.
    public func sessions(ofUser userID: String) async throws -> [SessionRecord] {
        let now = clock.now()
        return try await userIndex("list a user's sessions").records(forUser: userID, now: now)
            .filter { isLive($0, at: now) }
            .sorted { $0.lastSeen > $1.lastSeen }
    }

    /// Ends the session of `userID` named by `handle`; throws `SessionError.notFound` if there is none.
    public func revoke(handle: String, ofUser userID: String) async throws {
        guard
            let record = try await userIndex("find a user's sessions").records(forUser: userID, now: clock.now()).first(where: {
                ConstantTime.equals($0.handle, handle)
            })
        else {
            throw SessionError.notFound()
        }
        try await store.delete(key: record.key)
        logger.info("session revoked", metadata: ["user": "\(userID)", "session": "\(record.handle)"])
    }

    /// Ends every session of `userID` except `keeping` (for "sign out everywhere else"); returns the count.
    ///
    /// With sessions kept in cookies, advances the user's epoch instead (every cookie of the user
    /// stops opening; `keeping` is sealed again under the new epoch) and returns 0: the server
    /// cannot know how many browsers held one.
    @discardableResult
    public func revokeAll(ofUser userID: String, keeping: Session? = nil) async throws -> Int {
        if let cookies = cookieStore {
            guard let epochs = cookies.epochs else {
                throw StoreError.unsupported("end a user's sessions kept in cookies without an epoch table")
            }
            let next = try await epochs.advance(forUser: userID)
            if let keeping, keeping.userID == userID {
                keeping.state.withLock {
                    $0.epoch = next
                    $0.cookieDirty = true
                }
            }
            logger.info(keeping == nil ? "all sessions revoked" : "other sessions revoked", metadata: ["user": "\(userID)", "epoch": "\(next)"])
            return 0
        }
        let ended = try await userIndex("end a user's sessions").deleteAll(forUser: userID, exceptKey: keeping?.record?.key)
        logger.info(keeping == nil ? "all sessions revoked" : "other sessions revoked", metadata: ["user": "\(userID)", "ended": "\(ended)"])
        return ended
    }

    /// Finds any live session by its public handle (operator tools); scans the store.
    public func record(handle: String) async throws -> SessionRecord? {
        guard let iterable = store as? any IterableSessionStore else { throw StoreError.unsupported("list every session") }
        var after: String? = nil
        let now = clock.now()
        while true {
            let page = try await iterable.list(now: now, afterKey: after, limit: 500)
            if let match = page.first(where: { $0.handle == handle }) { return match }
            guard let last = page.last, page.count == 500 else { return nil }
            after = last.key
        }
    }

    // MARK: - Helpers

    /// The store's per-user index, which `ability` needs; `StoreError.unsupported` without one.
    private func userIndex(_ ability: String) throws -> any SessionUserIndex {
        guard let index = store as? any SessionUserIndex else {
            guard cookieStore == nil else {
                throw StoreError.unsupported("\(ability): sessions kept in cookies live in the browsers, not on the server")
            }
            throw StoreError.unsupported(ability)
        }
        return index
    }

    /// A new public handle: 96 random bits in base64url, never starting with `-`, so that it can
    /// be passed to a command line (`cloakroom sessions revoke HANDLE`) without being read as an
    /// option (1 in 64 handles would; drawing again costs under a bit of entropy).
    static func newHandle() -> String {
        while true {
            let handle = SecureToken(byteCount: 12).text
            if !handle.hasPrefix("-") { return handle }
        }
    }

    /// Longest User-Agent kept with a session, in UTF-8 bytes.
    public static let maxUserAgentBytes = 512

    /// `userAgent` cut to at most `maxUserAgentBytes` bytes of UTF-8, on a character boundary.
    static func capped(userAgent: String) -> String {
        userAgent.prefix(utf8Bytes: maxUserAgentBytes)
    }

    private func newRecord(key: String, now: Date, state: Session.State) -> SessionRecord {
        let absolute = now.addingTimeInterval(configuration.absoluteLifetime)
        return SessionRecord(
            key: key,
            handle: Self.newHandle(),
            createdAt: now,
            lastSeen: now,
            idleExpiresAt: min(now.addingTimeInterval(configuration.idleTimeout), absolute),
            absoluteExpiresAt: absolute,
            userAgent: state.userAgent,
            ipAddress: state.ipAddress
        )
    }

    private func cookieMaxAge(_ record: SessionRecord, now: Date) -> Int? {
        guard configuration.persistentCookie else { return nil }
        return max(0, Int(expiry(of: record).timeIntervalSince(now).rounded(.down)))
    }

    /// Whether `session` could hold `data` (its whole data after an edit): the data limits, and
    /// with sessions kept in cookies, whether the sealed cookie would fit. Throws the
    /// `SessionError` a commit would; a route calls it to refuse a write before making it.
    public func checkFits(_ session: Session, data: [String: String]) throws {
        try checkLimits(data)
        guard let cookies = cookieStore else { return }
        let now = clock.now()
        var record = session.record ?? newRecord(key: "", now: now, state: session.state.withLock { $0 })
        record.data = data
        _ = try cookies.seal(record, epoch: session.state.withLock { $0.epoch }, expires: expiry(of: record))
    }

    private func checkLimits(_ data: [String: String]) throws {
        if data.count > configuration.maxDataKeys { throw SessionError.tooManyKeys(limit: configuration.maxDataKeys) }
        let bytes = data.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if bytes > configuration.maxDataBytes { throw SessionError.dataTooLarge(limit: configuration.maxDataBytes) }
    }
}

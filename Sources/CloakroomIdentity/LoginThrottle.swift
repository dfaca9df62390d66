import CloakroomCore
public import Foundation

/// Failure counters for sign-in throttling, kept where every node can see them.
///
/// Keys are opaque strings (`account:<SHA-256 of the name>`, `ip:<address or IPv6 network>`). A counter forgets itself once
/// `window` passes with no new failure.
public protocol ThrottleStore: Sendable {
    /// Adds one failure at `now` and returns the new state. A counter idle past `window` restarts at 1.
    func recordFailure(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState
    /// The current state, nil if no live counter.
    func state(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState?
    /// Forgets the counter.
    func reset(key: String) async throws
}

/// One failure counter.
public struct ThrottleState: Sendable, Equatable, Codable {
    /// Failures in the current window.
    public var failures: Int
    /// Time of the latest failure.
    public var lastFailure: Date

    /// Creates a state.
    public init(failures: Int, lastFailure: Date) {
        self.failures = failures
        self.lastFailure = lastFailure
    }
}

/// Counters in memory.
public actor MemoryThrottleStore: ThrottleStore {
    private var counters: [String: ThrottleState] = [:]
    /// The most counters kept: a flood of distinct keys (names, addresses) cannot grow the store
    /// past it; the counters idle longest are dropped first.
    public let maxEntries: Int

    /// Creates an empty store holding at most `maxEntries` counters (at least 1).
    public init(maxEntries: Int = 100_000) {
        self.maxEntries = max(1, maxEntries)
    }

    /// How many counters the store holds now (expired ones included until pruned).
    public var count: Int { counters.count }

    /// The keys of the counters held (tests inspect what reaches a store).
    var storedKeys: [String] { Array(counters.keys) }

    public func recordFailure(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState {
        var state =
            counters[key].flatMap { $0.lastFailure.addingTimeInterval(window) > now ? $0 : nil }
            ?? ThrottleState(failures: 0, lastFailure: now)
        state.failures += 1
        state.lastFailure = now
        counters[key] = state
        if counters.count > maxEntries { prune(now: now, window: window) }
        return state
    }

    /// Drops expired counters, then, if still over the limit, the longest idle ones down to 90% of
    /// it (so a flood pays the sort once per tenth of the limit, not on every failure).
    private func prune(now: Date, window: TimeInterval) {
        counters = counters.filter { $0.value.lastFailure.addingTimeInterval(window) > now }
        guard counters.count > maxEntries else { return }
        let keep = max(1, maxEntries * 9 / 10)
        let newest = counters.sorted { $0.value.lastFailure > $1.value.lastFailure }.prefix(keep)
        counters = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
    }

    public func state(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState? {
        counters[key].flatMap { $0.lastFailure.addingTimeInterval(window) > now ? $0 : nil }
    }

    public func reset(key: String) async throws { counters[key] = nil }
}

/// Slows down and then locks repeated sign-in failures, per account and per client address.
///
/// OWASP Authentication Cheat Sheet ("Login Throttling"): after `freeAttempts` failures each
/// further attempt must wait an exponentially growing delay (1 s, 2 s, 4 s … up to `maxDelay`);
/// at `lockAfter` failures sign-in is locked for `lockDuration`. Attempts during a wait are
/// refused without checking the password. Unknown usernames are counted like known ones, so the
/// throttle reveals nothing about which accounts exist. A successful sign-in resets the account's
/// counter (not the address's, so one valid account cannot launder a stuffing run).
public struct LoginThrottle: Sendable {
    /// Limits for one kind of key.
    public struct Policy: Sendable {
        /// Failures allowed before delays start.
        public var freeAttempts: Int
        /// Failures that lock.
        public var lockAfter: Int
        /// Longest delay before the lock.
        public var maxDelay: TimeInterval
        /// How long a lock lasts (and how long a counter lives after its last failure).
        public var lockDuration: TimeInterval

        /// Creates a policy.
        public init(freeAttempts: Int, lockAfter: Int, maxDelay: TimeInterval = 60, lockDuration: TimeInterval = 15 * 60) {
            self.freeAttempts = freeAttempts
            self.lockAfter = lockAfter
            self.maxDelay = maxDelay
            self.lockDuration = lockDuration
        }

        /// Per account: 3 free, then delays, locked at 10 failures for 15 minutes.
        public static let account = Policy(freeAttempts: 3, lockAfter: 10)
        /// Per client address: 20 free, locked at 100 failures for 15 minutes.
        public static let address = Policy(freeAttempts: 20, lockAfter: 100)
        /// Registrations per client address: 10 within an hour; past that, refused until the client
        /// has made none for an hour (only `freeAttempts` and `lockDuration` apply).
        public static let registration = Policy(freeAttempts: 10, lockAfter: 10, maxDelay: 3600, lockDuration: 3600)

        /// Seconds to wait after `state`, measured from its last failure; 0 if none.
        func wait(after state: ThrottleState) -> TimeInterval {
            if state.failures >= lockAfter { return lockDuration }
            guard state.failures >= freeAttempts else { return 0 }
            let exponent = min(state.failures - freeAttempts, 30)
            return min(maxDelay, pow(2, Double(exponent)))
        }
    }

    let store: any ThrottleStore
    let accountPolicy: Policy
    let addressPolicy: Policy
    let registrationPolicy: Policy
    /// IPv6 clients are counted by this network prefix (an IPv4 client by its address).
    public let ipv6PrefixLength: Int

    /// Creates a throttle over `store`. IPv6 clients are counted per `/ipv6PrefixLength` network
    /// (default /64, one subscriber's allocation: a client can rotate through every address in it).
    public init(
        store: any ThrottleStore,
        accountPolicy: Policy = .account,
        addressPolicy: Policy = .address,
        registrationPolicy: Policy = .registration,
        ipv6PrefixLength: Int = 64
    ) {
        self.store = store
        self.accountPolicy = accountPolicy
        self.addressPolicy = addressPolicy
        self.registrationPolicy = registrationPolicy
        self.ipv6PrefixLength = max(1, min(128, ipv6PrefixLength))
    }

    /// Throws `IdentityError.throttled` if an attempt for `username` from `address` must wait.
    /// Returns the account's failure count it saw (0 when none).
    @discardableResult
    public func check(username: String, address: String?, now: Date) async throws -> Int {
        var worst: (wait: Int, locked: Bool)? = nil
        var accountFailures = 0
        for (key, policy) in keys(username: username, address: address) {
            guard let state = try await store.state(key: key, now: now, window: policy.lockDuration) else { continue }
            if key == Self.accountKey(username) { accountFailures = state.failures }
            let wait = policy.wait(after: state)
            let remaining = state.lastFailure.addingTimeInterval(wait).timeIntervalSince(now)
            if remaining > 0 {
                let seconds = Int(remaining.rounded(.up))
                let locked = state.failures >= policy.lockAfter
                if seconds > (worst?.wait ?? 0) { worst = (seconds, locked) }
            }
        }
        if let worst { throw IdentityError.throttled(retryAfter: worst.wait, locked: worst.locked) }
        return accountFailures
    }

    /// Counts an attempt on the account before its password is hashed, in one atomic step of the
    /// store. `seen` is the count ``check(username:address:now:)`` saw: when other attempts were
    /// counted in between (a parallel burst), this one goes on only while the count is within
    /// `freeAttempts`, so N parallel guesses count as N and at most the free ones are hashed.
    /// A wrong password then counts only against the address (``recordFailure(username:address:now:accountCounted:)``);
    /// a right one resets the account.
    public func reserveAttempt(username: String, seen: Int, now: Date) async throws {
        let state = try await store.recordFailure(key: Self.accountKey(username), now: now, window: accountPolicy.lockDuration)
        let before = state.failures - 1
        if before > seen, before >= accountPolicy.freeAttempts {
            let wait = accountPolicy.wait(after: ThrottleState(failures: before, lastFailure: now))
            throw IdentityError.throttled(retryAfter: max(1, Int(wait.rounded(.up))), locked: before >= accountPolicy.lockAfter)
        }
    }

    /// Reserves one registration attempt from `address`: counted first, in one atomic step of the
    /// store, and refused with `IdentityError.throttled` when it is past `freeAttempts` in the
    /// window, so parallel attempts all count and at most the allowed number go on to hash. Every
    /// attempt counts, successful or not (a registration storm would take the hashing slots sign-in
    /// needs), and the window restarts with each one: a client that keeps trying stays refused.
    public func reserveRegistration(address: String, now: Date) async throws {
        let key = "register:" + addressKey(address)
        let state = try await store.recordFailure(key: key, now: now, window: registrationPolicy.lockDuration)
        if state.failures > registrationPolicy.freeAttempts {
            throw IdentityError.throttled(retryAfter: Int(registrationPolicy.lockDuration.rounded(.up)), locked: true)
        }
    }

    /// Counts a failed attempt.
    /// With `accountCounted`, only the address's counter (the attempt was reserved on the account).
    public func recordFailure(username: String, address: String?, now: Date, accountCounted: Bool = false) async throws {
        for (key, policy) in keys(username: username, address: address) where !(accountCounted && key == Self.accountKey(username)) {
            _ = try await store.recordFailure(key: key, now: now, window: policy.lockDuration)
        }
    }

    /// Resets the account's counter after a successful sign-in.
    public func recordSuccess(username: String) async throws {
        try await store.reset(key: Self.accountKey(username))
    }

    /// The store key of an account's counter: SHA-256 of the normalised username, so a key is 72
    /// bytes however long the typed name, and the store never holds what was typed (people type
    /// passwords into the username field).
    static func accountKey(_ username: String) -> String {
        "account:" + SecureToken.hash(Account.normalize(username))
    }

    /// The store key of a client's counter: its IPv4 address, or its IPv6 network.
    func addressKey(_ address: String) -> String {
        "ip:" + IPAddressRange.throttleBlock(of: address, ipv6PrefixLength: ipv6PrefixLength)
    }

    private func keys(username: String, address: String?) -> [(String, Policy)] {
        var keys = [(Self.accountKey(username), accountPolicy)]
        if let address { keys.append((addressKey(address), addressPolicy)) }
        return keys
    }
}

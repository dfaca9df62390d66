public import Foundation

/// Failure counters for sign-in throttling, kept where every node can see them.
///
/// Keys are opaque strings (`account:<name>`, `ip:<address>`). A counter forgets itself once
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

    /// Creates an empty store.
    public init() {}

    public func recordFailure(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState {
        var state =
            counters[key].flatMap { $0.lastFailure.addingTimeInterval(window) > now ? $0 : nil }
            ?? ThrottleState(failures: 0, lastFailure: now)
        state.failures += 1
        state.lastFailure = now
        counters[key] = state
        if counters.count > 100_000 {
            counters = counters.filter { $0.value.lastFailure.addingTimeInterval(window) > now }
        }
        return state
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

    /// Creates a throttle over `store`.
    public init(store: any ThrottleStore, accountPolicy: Policy = .account, addressPolicy: Policy = .address) {
        self.store = store
        self.accountPolicy = accountPolicy
        self.addressPolicy = addressPolicy
    }

    /// Throws `IdentityError.throttled` if an attempt for `username` from `address` must wait.
    public func check(username: String, address: String?, now: Date) async throws {
        var worst: (wait: Int, locked: Bool)? = nil
        for (key, policy) in keys(username: username, address: address) {
            guard let state = try await store.state(key: key, now: now, window: policy.lockDuration) else { continue }
            let wait = policy.wait(after: state)
            let remaining = state.lastFailure.addingTimeInterval(wait).timeIntervalSince(now)
            if remaining > 0 {
                let seconds = Int(remaining.rounded(.up))
                let locked = state.failures >= policy.lockAfter
                if seconds > (worst?.wait ?? 0) { worst = (seconds, locked) }
            }
        }
        if let worst { throw IdentityError.throttled(retryAfter: worst.wait, locked: worst.locked) }
    }

    /// Counts a failed attempt.
    public func recordFailure(username: String, address: String?, now: Date) async throws {
        for (key, policy) in keys(username: username, address: address) {
            _ = try await store.recordFailure(key: key, now: now, window: policy.lockDuration)
        }
    }

    /// Resets the account's counter after a successful sign-in.
    public func recordSuccess(username: String) async throws {
        try await store.reset(key: "account:" + Account.normalize(username))
    }

    private func keys(username: String, address: String?) -> [(String, Policy)] {
        var keys = [("account:" + Account.normalize(username), accountPolicy)]
        if let address { keys.append(("ip:" + address, addressPolicy)) }
        return keys
    }
}

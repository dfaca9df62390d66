import CloakroomCore
public import CoreMetrics
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

/// Slows down repeated sign-in failures on an account, and locks them per (account, source).
///
/// OWASP Authentication Cheat Sheet ("Login Throttling", "Account Lockout"): a lock keyed on the
/// account alone lets anyone lock anyone out, so the counters are
/// - per (account, source): `accountPolicy` (3 free failures, then delays of 1 s, 2 s, 4 s … up to
///   `maxDelay`, locked at 10 failures for 15 minutes). The source is the client's address (its
///   IPv6 network), or, for a known device, that device: a signed cookie set at a past successful
///   sign-in, or the signed-in session itself (a password change, a re-authentication). An attacker
///   elsewhere therefore locks only himself;
/// - per account, from every unknown source together: `globalPolicy` slows (10 free failures, then
///   delays up to a minute) and never locks, so a guessing run spread over many addresses gets at
///   most about one guess a minute, while the owner on a known device is not slowed at all;
/// - per client address across accounts: `addressPolicy` (credential stuffing from one place).
///
/// Attempts during a wait are refused without checking the password. Unknown usernames are
/// counted like known ones, so the throttle reveals nothing about which accounts exist. A
/// successful sign-in resets its source's counter and the account's global one (not the address's,
/// so one valid account cannot launder a stuffing run).
public struct LoginThrottle: Sendable {
    /// Limits for one kind of key.
    public struct Policy: Sendable {
        /// Failures allowed before delays start.
        public var freeAttempts: Int
        /// Failures that lock (`Int.max`: never).
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

        /// Per (account, source): 3 free, then delays, locked at 10 failures for 15 minutes.
        public static let account = Policy(freeAttempts: 3, lockAfter: 10)
        /// Per account from all unknown sources together: 10 free, then delays up to a minute; never
        /// locked. The counter lives 15 minutes after its last failure.
        public static let accountGlobal = Policy(freeAttempts: 10, lockAfter: .max, maxDelay: 60)
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

    /// Where an attempt comes from, as far as the throttle counts it.
    public struct Source: Sendable, Hashable {
        /// The client's address (nil when unknown, e.g. a command-line caller).
        public var address: String?
        /// A device the server recognises, verified by the caller (a known-device cookie's ID, a
        /// signed-in session): counted on its own and not slowed by failures from elsewhere.
        public var device: String?

        /// Creates a source.
        public init(address: String?, device: String? = nil) {
            self.address = address.map { String($0.prefix(64)) }
            self.device = device
        }
    }

    /// What ``check(username:source:now:)`` saw: the failure counts the reservation compares with.
    public struct Seen: Sendable {
        var counts: [String: Int] = [:]
    }

    let store: any ThrottleStore
    let accountPolicy: Policy
    let globalPolicy: Policy
    let addressPolicy: Policy
    let registrationPolicy: Policy
    /// IPv6 clients are counted by this network prefix (an IPv4 client by its address).
    public let ipv6PrefixLength: Int
    /// Counts the attempts it refuses (nil: none kept).
    let metrics: ThrottleMetrics?

    /// Creates a throttle over `store`. IPv6 clients are counted per `/ipv6PrefixLength` network
    /// (default /64, one subscriber's allocation: a client can rotate through every address in it).
    public init(
        store: any ThrottleStore,
        accountPolicy: Policy = .account,
        globalPolicy: Policy = .accountGlobal,
        addressPolicy: Policy = .address,
        registrationPolicy: Policy = .registration,
        ipv6PrefixLength: Int = 64,
        metrics: ThrottleMetrics? = nil
    ) {
        self.metrics = metrics
        self.store = store
        self.accountPolicy = accountPolicy
        self.globalPolicy = globalPolicy
        self.addressPolicy = addressPolicy
        self.registrationPolicy = registrationPolicy
        self.ipv6PrefixLength = max(1, min(128, ipv6PrefixLength))
    }

    /// Throws `IdentityError.throttled` if an attempt for `username` from `source` must wait.
    /// Returns the counts it saw, for ``reserveAttempt(username:source:seen:now:)``.
    @discardableResult
    public func check(username: String, source: Source, now: Date) async throws -> Seen {
        var worst: (wait: Int, locked: Bool)? = nil
        var seen = Seen()
        let unlocked = try await store.state(key: Self.unlockKey(username), now: now, window: accountPolicy.lockDuration)
        for (key, policy, reserved) in keys(username: username, source: source) {
            guard let state = try await store.state(key: key, now: now, window: policy.lockDuration) else { continue }
            // Counted before an operator's reset: forgotten.
            if reserved, let unlocked, state.lastFailure <= unlocked.lastFailure {
                try await store.reset(key: key)
                continue
            }
            seen.counts[key] = state.failures
            let wait = policy.wait(after: state)
            let remaining = state.lastFailure.addingTimeInterval(wait).timeIntervalSince(now)
            if remaining > 0 {
                let seconds = Int(remaining.rounded(.up))
                let locked = state.failures >= policy.lockAfter
                if seconds > (worst?.wait ?? 0) { worst = (seconds, locked) }
            }
        }
        if let worst {
            metrics?.refused(locked: worst.locked)
            throw IdentityError.throttled(retryAfter: worst.wait, locked: worst.locked)
        }
        return seen
    }

    /// Counts an attempt on the account (its source's counter and, from an unknown source, the
    /// global one) before its password is hashed, each in one atomic step of the store. `seen` is
    /// what ``check(username:source:now:)`` saw: when other attempts were counted in between (a
    /// parallel burst), this one goes on only while each count is within its `freeAttempts`, so N
    /// parallel guesses count as N and at most the free ones are hashed. A wrong password then
    /// counts only against the address (``recordFailure(username:source:now:accountCounted:)``);
    /// a right one resets the account's counters.
    public func reserveAttempt(username: String, source: Source, seen: Seen, now: Date) async throws {
        for (key, policy, reserved) in keys(username: username, source: source) where reserved {
            let state = try await store.recordFailure(key: key, now: now, window: policy.lockDuration)
            let before = state.failures - 1
            if before > seen.counts[key] ?? 0, before >= policy.freeAttempts {
                let wait = policy.wait(after: ThrottleState(failures: before, lastFailure: now))
                metrics?.refused(locked: before >= policy.lockAfter)
                throw IdentityError.throttled(retryAfter: max(1, Int(wait.rounded(.up))), locked: before >= policy.lockAfter)
            }
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
            metrics?.registrationRefused.increment()
            throw IdentityError.throttled(retryAfter: Int(registrationPolicy.lockDuration.rounded(.up)), locked: true)
        }
    }

    /// Counts a failed attempt.
    /// With `accountCounted`, only the address's counter (the attempt was reserved on the account).
    public func recordFailure(username: String, source: Source, now: Date, accountCounted: Bool = false) async throws {
        for (key, policy, reserved) in keys(username: username, source: source) where !(accountCounted && reserved) {
            _ = try await store.recordFailure(key: key, now: now, window: policy.lockDuration)
        }
    }

    /// Resets the account's counters for `source` (and the global one) after a successful sign-in.
    public func recordSuccess(username: String, source: Source) async throws {
        for (key, _, reserved) in keys(username: username, source: source) where reserved {
            try await store.reset(key: key)
        }
    }

    /// Forgets every failure counted on an account so far, from every source and device (an
    /// operator's password reset): the global counter now, the per-source ones at their next check
    /// (a marker records when; per-address counters are the address's own and stay).
    public func resetAccount(username: String, now: Date) async throws {
        _ = try await store.recordFailure(key: Self.unlockKey(username), now: now, window: accountPolicy.lockDuration)
        try await store.reset(key: Self.accountKey(username))
    }

    /// The store key of the time of an account's last reset by an operator.
    static func unlockKey(_ username: String) -> String {
        "unlock:" + SecureToken.hash(Account.normalize(username))
    }

    /// The store key of an account's global counter: SHA-256 of the normalised username, so a key
    /// is 72 bytes however long the typed name, and the store never holds what was typed (people
    /// type passwords into the username field).
    static func accountKey(_ username: String) -> String {
        "account:" + SecureToken.hash(Account.normalize(username))
    }

    /// The store key of an account's counter for one source block (an address, a network, `-`).
    static func sourceKey(_ username: String, block: String) -> String {
        "source:" + SecureToken.hash(Account.normalize(username) + "\u{0}" + block)
    }

    /// The store key of an account's counter on one known device.
    static func deviceKey(_ username: String, device: String) -> String {
        "device:" + SecureToken.hash(Account.normalize(username) + "\u{0}" + device)
    }

    /// The store key of a client's counter: its IPv4 address, or its IPv6 network.
    func addressKey(_ address: String) -> String {
        "ip:" + block(of: address)
    }

    /// The block a client is counted under: its IPv4 address, or its IPv6 network.
    private func block(of address: String) -> String {
        IPAddressRange.throttleBlock(of: address, ipv6PrefixLength: ipv6PrefixLength)
    }

    /// The counters an attempt touches, with their policies, and whether each is an account
    /// counter (reserved before hashing, reset on success) rather than the address's.
    private func keys(username: String, source: Source) -> [(String, Policy, Bool)] {
        var keys: [(String, Policy, Bool)] = []
        let block = source.address.map(block(of:))
        if let device = source.device {
            keys.append((Self.deviceKey(username, device: device), accountPolicy, true))
        } else {
            keys.append((Self.sourceKey(username, block: block ?? "-"), accountPolicy, true))
            keys.append((Self.accountKey(username), globalPolicy, true))
        }
        if let block { keys.append(("ip:" + block, addressPolicy, false)) }
        return keys
    }
}

/// What a ``LoginThrottle`` refuses, counted on a swift-metrics factory:
/// `cloakroom_throttle_events_total{kind="delayed"|"locked"|"registration"}`.
public struct ThrottleMetrics: Sendable {
    let delayed: Counter
    let locked: Counter
    let registrationRefused: Counter

    /// Creates the counters on `factory`.
    public init(factory: any MetricsFactory) {
        delayed = Counter(label: "cloakroom_throttle_events_total", dimensions: [("kind", "delayed")], factory: factory)
        locked = Counter(label: "cloakroom_throttle_events_total", dimensions: [("kind", "locked")], factory: factory)
        registrationRefused = Counter(label: "cloakroom_throttle_events_total", dimensions: [("kind", "registration")], factory: factory)
    }

    func refused(locked isLocked: Bool) {
        (isLocked ? locked : delayed).increment()
    }
}

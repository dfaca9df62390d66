public import CloakroomCore
import CloakroomSessions
public import Crypto
import Foundation
public import Logging

/// Registration and password sign-in, the rules in one place for the web pages, the API and the CLI.
public struct SignInService: Sendable {
    /// Rules for new accounts.
    public struct Policy: Sendable {
        /// Shortest password (NIST SP 800-63B: at least 8; 12 is our default).
        public var minPasswordLength: Int
        /// Longest password in bytes (bounded so hashing cost is bounded).
        public var maxPasswordBytes: Int
        /// Longest username.
        public var maxUsernameLength: Int
        /// Words of this service a password must not lean on (NIST SP 800-63B 3.1.1.2: "context-
        /// specific words, such as the name of the service"), besides the username itself.
        public var contextWords: [String]

        /// Creates a policy.
        public init(
            minPasswordLength: Int = 12,
            maxPasswordBytes: Int = 1024,
            maxUsernameLength: Int = 64,
            contextWords: [String] = ["cloakroom"]
        ) {
            self.minPasswordLength = minPasswordLength
            self.maxPasswordBytes = maxPasswordBytes
            self.maxUsernameLength = maxUsernameLength
            self.contextWords = contextWords
        }
    }

    /// The account records.
    public let accounts: any AccountStore
    /// The password hasher.
    public let hasher: PasswordHasher
    /// The failure throttle.
    public let throttle: LoginThrottle
    /// Registration rules.
    public let policy: Policy
    let clock: any CloakroomClock
    let logger: Logger
    /// The key of the usernames' digests in the audit log.
    let logDigestKey: SymmetricKey
    /// Passwords refused as common or breached (nil: none).
    public let commonPasswords: CommonPasswordList?

    /// Creates the service.
    ///
    /// `logDigestKey` keys the HMAC under which an unknown username appears in the audit log
    /// (`username_hmac`): without the key, a log reader cannot confirm a guess of what was typed
    /// (people type passwords into the username field). Give every node the same key (the server
    /// derives it from the key-file secret) to match attempts across nodes; the default, a random
    /// key, matches attempts within one process only.
    public init(
        accounts: any AccountStore,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        policy: Policy = .init(),
        clock: any CloakroomClock = SystemClock(),
        logger: Logger = Logger(label: "cloakroom.identity"),
        logDigestKey: SymmetricKey = SymmetricKey(size: .bits256),
        commonPasswords: CommonPasswordList? = .shipped
    ) {
        self.commonPasswords = commonPasswords
        self.accounts = accounts
        self.hasher = hasher
        self.throttle = throttle
        self.policy = policy
        self.clock = clock
        self.logger = logger
        self.logDigestKey = logDigestKey
    }

    /// Checks a username: 1–`maxUsernameLength` characters of letters, digits and `. _ - @ +`.
    public func validate(username: String) throws {
        let name = username.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw IdentityError.invalidUsername("username is required") }
        guard name.count <= policy.maxUsernameLength else {
            throw IdentityError.invalidUsername("username is longer than \(policy.maxUsernameLength) characters")
        }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-@+"))
        guard name.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw IdentityError.invalidUsername("username may hold only letters, digits and . _ - @ +")
        }
    }

    /// Checks a new password against the policy: its length, not only spaces, not in the list of
    /// common and breached passwords, and still long enough and not common once the username and
    /// the service's context words are taken out of it ("alice2024alice" for alice, "cloakroom123").
    public func validate(password: String, username: String? = nil) throws {
        guard password.count >= policy.minPasswordLength else {
            throw IdentityError.weakPassword("password must be at least \(policy.minPasswordLength) characters")
        }
        guard password.utf8.count <= policy.maxPasswordBytes else {
            throw IdentityError.weakPassword("password must be at most \(policy.maxPasswordBytes) bytes")
        }
        guard !password.allSatisfy(\.isWhitespace) else {
            throw IdentityError.weakPassword("password must not be only spaces")
        }
        if let commonPasswords, commonPasswords.contains(password) {
            throw IdentityError.weakPassword("password is in a list of common or breached passwords; choose another")
        }
        let lowered = password.lowercased()
        var rest = lowered
        let words = ([username.map(Account.normalize)].compactMap { $0 } + policy.contextWords.map { $0.lowercased() }).filter { $0.count >= 3 }
        for word in words { rest = rest.replacingOccurrences(of: word, with: "") }
        if rest != lowered {
            let remaining = rest.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters))
            if remaining.count < policy.minPasswordLength || commonPasswords?.contains(remaining) == true {
                throw IdentityError.weakPassword("password must not be built on your username or the name of this service")
            }
        }
    }

    /// Creates an account.
    ///
    /// With `address`, registrations are throttled per client (``LoginThrottle/reserveRegistration(address:now:)``).
    /// The password is hashed before the name is looked up, so "that username is already
    /// registered" costs the same work as a success and timing does not tell it faster.
    public func register(username: String, password: String, address: String? = nil) async throws -> Account {
        if let address { try await throttle.reserveRegistration(address: String(address.prefix(64)), now: clock.now()) }
        try validate(username: username)
        try validate(password: password, username: username)
        let name = Account.displayForm(username)
        let hash = try await hasher.hash(password)
        if try await accounts.account(username: name) != nil { throw IdentityError.usernameTaken() }
        let account = Account(username: name, passwordHash: hash, createdAt: clock.now())
        try await accounts.create(account)
        logger.info("account registered", metadata: ["user": "\(account.id)"])
        return account
    }

    /// An account for someone who signs in with another OpenID provider and has no password here:
    /// its hash is of 32 random bytes nobody knows. The username is `preferred` cut to the allowed
    /// characters and length (or `user`), made unique with `-2`, `-3` … when taken.
    public func registerFederated(preferred: String?) async throws -> Account {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-@+"))
        var base = String(String.UnicodeScalarView((preferred ?? "").unicodeScalars.filter { allowed.contains($0) }))
        base = String(base.prefix(max(1, policy.maxUsernameLength - 4)))
        if base.isEmpty { base = "user" }
        let hash = try await hasher.hash(SecureToken(byteCount: 32).text)
        for attempt in 1...50 {
            let name = Account.displayForm(attempt == 1 ? base : "\(base)-\(attempt)")
            if try await accounts.account(username: name) != nil { continue }
            let account = Account(username: name, passwordHash: hash, createdAt: clock.now())
            do {
                try await accounts.create(account)
            } catch let error as IdentityError where error.code == .usernameTaken {
                continue
            }
            logger.info("account registered through another provider", metadata: ["user": "\(account.id)"])
            return account
        }
        throw IdentityError.usernameTaken()
    }

    /// Verifies credentials; returns the account. Throws `invalidCredentials` for an unknown user
    /// and a wrong password alike (same response, same hashing work), `throttled` when too many
    /// failures came first, `accountDisabled` only after a correct password.
    ///
    /// `device` names a device the caller has verified as one this account signed in from before
    /// (a known-device cookie) or the caller's own signed-in session: its failures are counted on
    /// their own, and failures from elsewhere neither slow nor lock it (``LoginThrottle``).
    public func authenticate(username: String, password: String, address: String?, device: String? = nil) async throws -> Account {
        let now = clock.now()
        // The audit trail (notice for refusals, info for success). An unknown username is logged
        // only as a digest: people type their password into the username field.
        let source = LoginThrottle.Source(address: address, device: device)
        let address = source.address
        do {
            let seen = try await throttle.check(username: username, source: source, now: now)
            // Counted before the hash: a burst of parallel guesses cannot all pass the check above.
            try await throttle.reserveAttempt(username: username, source: source, seen: seen, now: now)
        } catch let error as IdentityError {
            logger.notice(
                "sign-in refused: throttled",
                metadata: [
                    "username_hmac": "\(digest(username))", "address": "\(address ?? "-")", "retry_after_s": "\(error.retryAfter ?? 0)",
                ]
            )
            throw error
        }
        guard password.utf8.count <= policy.maxPasswordBytes,
            let account = try await accounts.account(username: username)
        else {
            try await hasher.verifyDummy(String(password.utf8.prefix(policy.maxPasswordBytes)) ?? "")
            try await throttle.recordFailure(username: username, source: source, now: now, accountCounted: true)
            logger.notice(
                "sign-in failed: unknown user or oversized password",
                metadata: [
                    "username_hmac": "\(digest(username))", "address": "\(address ?? "-")",
                ]
            )
            throw IdentityError.invalidCredentials()
        }
        let matches = try await hasher.verify(password, against: account.passwordHash)
        // An older, cheaper hash costs as much as a current one (and as an unknown user's stand-in).
        try await hasher.hardenRuntime(password, stored: account.passwordHash)
        guard matches else {
            try await throttle.recordFailure(username: username, source: source, now: now, accountCounted: true)
            logger.notice("sign-in failed: wrong password", metadata: ["user": "\(account.id)", "address": "\(address ?? "-")"])
            throw IdentityError.invalidCredentials()
        }
        guard !account.disabled else {
            logger.notice("sign-in refused: account disabled", metadata: ["user": "\(account.id)", "address": "\(address ?? "-")"])
            throw IdentityError.accountDisabled()
        }
        try await throttle.recordSuccess(username: username, source: source)
        logger.info("signed in", metadata: ["user": "\(account.id)", "address": "\(address ?? "-")"])
        if hasher.needsRehash(account.passwordHash) {
            let upgraded = try await hasher.hash(password)
            try await accounts.updatePasswordHash(id: account.id, hash: upgraded)
            logger.info("password hash upgraded", metadata: ["user": "\(account.id)"])
        }
        return account
    }

    /// An operator's password reset: sets `new` (after the password rules) without the current
    /// one, and forgets the account's sign-in failures from every source, so a locked-out user can
    /// sign in at once.
    ///
    /// `endSignIns` ends the account's sessions and tokens: it runs before the new hash is stored
    /// and again after (a sign-in with the old password in between is ended too). A failure at any
    /// step throws, and never leaves the old sign-ins working behind a changed password.
    public func resetPassword(_ account: Account, to new: String, endSignIns: () async throws -> Void = {}) async throws {
        try validate(password: new, username: account.username)
        let hash = try await hasher.hash(new)
        try await endSignIns()
        try await accounts.updatePasswordHash(id: account.id, hash: hash)
        try await endSignIns()
        try await throttle.resetAccount(username: account.username, now: clock.now())
        logger.notice("password reset by an operator", metadata: ["user": "\(account.id)"])
    }

    /// The first 8 bytes of HMAC-SHA-256 of the normalised username under `logDigestKey`, hex:
    /// enough to see repeated attempts on one name in a log, without writing what was typed, and
    /// not reversible by a dictionary without the key.
    func digest(_ username: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(Account.normalize(username).utf8), using: logDigestKey)
        return Hex.encode(Array(mac).prefix(8))
    }

    /// Changes the password of `account` after checking the current one (throttled like a sign-in,
    /// so a stolen session cannot guess it).
    ///
    /// `endSignIns` ends the account's other sessions and its tokens, before the new hash is stored
    /// and again after: should any step fail, the change throws with the old sign-ins already
    /// ended, never with a new password and the old sign-ins still working.
    public func changePassword(
        _ account: Account,
        current: String,
        new: String,
        address: String?,
        device: String? = nil,
        endSignIns: () async throws -> Void = {}
    ) async throws {
        try validate(password: new, username: account.username)
        _ = try await authenticate(username: account.username, password: current, address: address, device: device)
        // Checked after the current password proved right, so it reveals nothing.
        guard new != current else { throw IdentityError.weakPassword("the new password is the same as the current one") }
        let hash = try await hasher.hash(new)
        try await endSignIns()
        try await accounts.updatePasswordHash(id: account.id, hash: hash)
        try await endSignIns()
        logger.info("password changed", metadata: ["user": "\(account.id)"])
    }
}

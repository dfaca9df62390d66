/// Why a sign-in or registration was refused. Messages are safe to show the client.
public struct IdentityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of refusal, stable for API error codes.
    ///
    /// A struct over a private enum (as jwt-kit's `JWTError`): a new kind breaks no caller's `switch`.
    public struct Code: Sendable, Hashable, CaseIterable, CustomStringConvertible {
        private enum Base: String, Sendable, CaseIterable {
            case invalidCredentials = "invalid_credentials"
            case usernameTaken = "username_taken"
            case invalidUsername = "invalid_username"
            case weakPassword = "weak_password"
            case throttled = "too_many_attempts"
            case accountDisabled = "account_disabled"
            case busy = "server_busy"
            case malformedHash = "malformed_hash"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The stable wire name (`too_large`, `invalid_credentials`, …).
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
        /// Every kind, in declaration order.
        public static var allCases: [Code] { Base.allCases.map(Code.init) }

        public static let invalidCredentials = Code(.invalidCredentials)
        public static let usernameTaken = Code(.usernameTaken)
        public static let invalidUsername = Code(.invalidUsername)
        public static let weakPassword = Code(.weakPassword)
        public static let throttled = Code(.throttled)
        public static let accountDisabled = Code(.accountDisabled)
        public static let busy = Code(.busy)
        public static let malformedHash = Code(.malformedHash)
    }

    /// The kind.
    public let code: Code
    /// A client-safe explanation.
    public let message: String
    /// For `throttled`: seconds until the next attempt is allowed.
    public let retryAfter: Int?

    init(_ code: Code, _ message: String, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    /// Unknown user and wrong password alike (no account enumeration).
    public static func invalidCredentials() -> IdentityError { .init(.invalidCredentials, "the username or password is incorrect") }
    /// Registration with a name already in use.
    public static func usernameTaken() -> IdentityError { .init(.usernameTaken, "that username is already registered") }
    /// A username outside the allowed form.
    public static func invalidUsername(_ why: String) -> IdentityError { .init(.invalidUsername, why) }
    /// A password below the policy.
    public static func weakPassword(_ why: String) -> IdentityError { .init(.weakPassword, why) }
    /// Too many failures; try again after `retryAfter` seconds.
    public static func throttled(retryAfter: Int, locked: Bool) -> IdentityError {
        let text =
            locked
            ? "too many failed sign-ins: sign-in is locked for \(duration(retryAfter))"
            : "too many failed sign-ins: wait \(duration(retryAfter)) before trying again"
        return .init(.throttled, text, retryAfter: retryAfter)
    }

    /// "1 second", "45 seconds"; from a minute on, "about 15 minutes" (to the nearest minute).
    static func duration(_ seconds: Int) -> String {
        if seconds < 60 { return seconds == 1 ? "1 second" : "\(seconds) seconds" }
        let minutes = Int((Double(seconds) / 60).rounded())
        return minutes == 1 ? "about 1 minute" : "about \(minutes) minutes"
    }
    /// The account exists but is disabled. Only reported after a correct password.
    public static func accountDisabled() -> IdentityError { .init(.accountDisabled, "this account is disabled") }
    /// The password hashing queue is full.
    public static func busy() -> IdentityError { .init(.busy, "the server is busy; try again shortly") }
    /// A stored hash in an unknown format.
    public static func malformedHash() -> IdentityError { .init(.malformedHash, "stored password hash is malformed") }

    public var description: String { "IdentityError(\(code.rawValue)): \(message)" }
}

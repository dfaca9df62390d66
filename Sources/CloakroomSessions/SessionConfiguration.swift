public import Foundation

/// How sessions behave. Defaults follow OWASP's Session Management Cheat Sheet for a
/// low-to-medium risk web application.
public struct SessionConfiguration: Sendable {
    /// What to do when a user signs in on one session too many.
    public enum OverflowPolicy: String, Sendable {
        /// Refuse the new sign-in (`SessionError.tooManySessions`).
        case refuse
        /// End the least recently used session of that user.
        case evictOldest = "evict-oldest"
    }

    /// Inactivity timeout: a session unused this long ends (sliding). Default 30 minutes.
    public var idleTimeout: TimeInterval
    /// Maximum lifetime from creation, however active. Default 12 hours.
    public var absoluteLifetime: TimeInterval
    /// `lastSeen` is written at most this often per session. Default 60 seconds.
    public var touchInterval: TimeInterval
    /// True: the cookie carries Max-Age following the sliding expiry. False: a browser-session cookie.
    public var persistentCookie: Bool
    /// At most this many live sessions per user; nil for no limit.
    public var maxSessionsPerUser: Int?
    /// What happens past `maxSessionsPerUser`.
    public var overflowPolicy: OverflowPolicy
    /// At most this many application keys in one session.
    public var maxDataKeys: Int
    /// At most this many bytes of application data (keys plus values) in one session.
    public var maxDataBytes: Int
    /// How often a conflicting commit is retried before giving up.
    public var maxCommitRetries: Int
    /// Application keys a sign-in carries from the session it replaces (a basket filled before
    /// signing in, a language choice); every other key, and the CSRF token, is left behind. Only
    /// from an anonymous session or one of the same user: a sign-in as another user on the same
    /// browser starts empty. Default: none (OWASP: a new session at every privilege change;
    /// Django's `cycle_key` keeps everything, which hands an anonymous session's contents, planted
    /// or not, to whoever signs in).
    public var keptAtSignIn: Set<String>

    /// Creates a configuration.
    public init(
        idleTimeout: TimeInterval = 30 * 60,
        absoluteLifetime: TimeInterval = 12 * 3600,
        touchInterval: TimeInterval = 60,
        persistentCookie: Bool = true,
        maxSessionsPerUser: Int? = nil,
        overflowPolicy: OverflowPolicy = .evictOldest,
        maxDataKeys: Int = 64,
        maxDataBytes: Int = 16 * 1024,
        maxCommitRetries: Int = 50,
        keptAtSignIn: Set<String> = []
    ) {
        self.idleTimeout = idleTimeout
        self.absoluteLifetime = absoluteLifetime
        self.touchInterval = touchInterval
        self.persistentCookie = persistentCookie
        self.maxSessionsPerUser = maxSessionsPerUser
        self.overflowPolicy = overflowPolicy
        self.maxDataKeys = maxDataKeys
        self.maxDataBytes = maxDataBytes
        self.maxCommitRetries = maxCommitRetries
        self.keptAtSignIn = keptAtSignIn
    }
}

/// Why a session operation was refused.
public struct SessionError: Error, Sendable, CustomStringConvertible {
    private enum Kind: Sendable { case tooManySessions, dataTooLarge, tooManyKeys, cookieTooLarge, commitConflict, notFound }
    private let kind: Kind
    /// A message fit for the client.
    public let message: String

    /// The user has `maxSessionsPerUser` sessions and the policy is `refuse`.
    public static func tooManySessions(limit: Int) -> SessionError {
        .init(kind: .tooManySessions, message: "this account already has \(limit) active session\(limit == 1 ? "" : "s"); sign out of one first")
    }
    /// The session data would pass `maxDataBytes`.
    public static func dataTooLarge(limit: Int) -> SessionError {
        .init(kind: .dataTooLarge, message: "session data would exceed \(limit) bytes")
    }
    /// The session would hold more than `maxDataKeys` keys.
    public static func tooManyKeys(limit: Int) -> SessionError {
        .init(kind: .tooManyKeys, message: "session would hold more than \(limit) keys")
    }
    /// A session kept in a cookie (`CookieSessionStore`) would need a cookie larger than browsers keep.
    public static func cookieTooLarge(size: Int, limit: Int) -> SessionError {
        .init(
            kind: .cookieTooLarge,
            message:
                "the session would need a cookie of \(size) bytes sealed (name and value); browsers keep at most \(limit): a cookie session must hold less"
        )
    }
    /// Every retry of a commit met a newer version.
    public static func commitConflict() -> SessionError {
        .init(kind: .commitConflict, message: "the session changed concurrently too often; try again")
    }
    /// No such session for this user.
    public static func notFound() -> SessionError { .init(kind: .notFound, message: "no such session") }

    public var isTooManySessions: Bool { kind == .tooManySessions }
    public var isTooLarge: Bool { kind == .dataTooLarge || kind == .tooManyKeys || kind == .cookieTooLarge }
    public var isCommitConflict: Bool { kind == .commitConflict }
    public var isNotFound: Bool { kind == .notFound }
    public var description: String { "SessionError: \(message)" }
}

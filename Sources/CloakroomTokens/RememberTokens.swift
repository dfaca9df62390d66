public import CloakroomCore
public import Foundation

/// "Keep me signed in": a long-lived cookie that signs a browser in again once its session has
/// ended, done as OWASP and Barry Jaspan describe it, on the refresh-token machinery every token
/// store already has.
///
/// - The cookie holds a random 256-bit token; the store keeps only its SHA-256 (a leaked table
///   signs nobody in), and a lookup by that hash leaks nothing through timing.
/// - Each use rotates it (atomically, in every store): the cookie gets a new token, the old one is
///   kept as used until it expires.
/// - An old token presented again means the cookie was copied: whoever used it second may be the
///   owner or the thief, so `redeem` reports `.theft` and the caller ends every session and token of
///   that user.
/// - A device's chain of tokens is one family (`forget` ends it: signing out on that device);
///   "sign out everywhere", a password change and a disabled account end them all through
///   `TokenService.revokeEverything`.
/// - Records carry the client ID `cloakroom-remember`: an API refresh token is never accepted as a
///   remember cookie, nor a remember token as a refresh token.
public struct RememberTokens: Sendable {
    /// The client ID of remember-me families.
    public static let clientID = "cloakroom-remember"

    public let store: any TokenStore
    /// How long a ticked sign-in keeps the device signed in (default 30 days), from that sign-in.
    public let lifetime: TimeInterval
    /// How soon after a token's use presenting it again counts as a race, not theft (default 10 s):
    /// two tabs restored at once send the same cookie before either sees the rotated one.
    public let raceWindow: TimeInterval
    let clock: any CloakroomClock
    let tagsKeys: Bool

    public init(
        store: any TokenStore,
        lifetime: TimeInterval = 30 * 86_400,
        raceWindow: TimeInterval = 10,
        clock: any CloakroomClock = SystemClock()
    ) {
        self.store = store
        self.lifetime = lifetime
        self.raceWindow = raceWindow
        self.clock = clock
        self.tagsKeys = (store as? any KeyTaggedStore)?.requiresKeyTags ?? false
    }

    /// What presenting a remember cookie came to.
    public enum Redemption: Sendable, Equatable {
        /// Sign `userID` in; the cookie now holds `token`.
        case signedIn(userID: String, token: String)
        /// An already-used token: the cookie was copied. End everything of `userID`.
        case theft(userID: String)
        /// An already-used token within `raceWindow` of its use: another request of the same browser
        /// (a second tab) redeemed it a moment before and carries the new cookie. Sign nobody in,
        /// end nothing, and leave the cookie alone.
        case raced
        /// Unknown, expired, ended, or not a remember token.
        case invalid
    }

    /// A device kept signed in: one family of remember tokens.
    public struct Device: Sendable, Equatable {
        /// A public handle for the device (not the family ID): what a page names it by.
        public let id: String
        /// What the browser said it was when the box was ticked (its User-Agent, shortened), or nil.
        public let label: String?
        /// When the device was last signed in again by its cookie (or the ticked sign-in).
        public let lastUsed: Date
        /// When the cookie stops working, used or not.
        public let expires: Date
    }

    /// Longest device label kept, in UTF-8 bytes.
    public static let maxLabelBytes = 200

    /// A new remember token for `userID` (a new family: one device). `device` (the browser's
    /// User-Agent) labels it in the list of remembered devices; it is kept in the record's
    /// `scope`, which remember tokens have no other use for.
    public func issue(userID: String, device: String? = nil) async throws -> String {
        let now = clock.now()
        let tag = tagsKeys ? KeyTag(user: userID) : nil
        let token = SecureToken(tag: tag)
        let family = SecureToken(byteCount: 16).text
        try await store.insertRefreshToken(
            RefreshTokenRecord(
                key: token.hashed,
                familyID: tag?.prefixing(family) ?? family,
                userID: userID,
                clientID: Self.clientID,
                scope: Self.scope(label: device),
                issuedAt: now,
                expiresAt: now.addingTimeInterval(lifetime),
                familyExpiresAt: now.addingTimeInterval(lifetime)
            )
        )
        return token.text
    }

    /// Rotates the token a cookie presents (see the type's rules).
    public func redeem(_ text: String) async throws -> Redemption {
        let now = clock.now()
        guard let (token, stored) = try await stored(text, now: now) else { return .invalid }
        // Rotated a moment ago: a second tab, not a thief (the family is left alone). A thief who
        // comes this soon gets nothing, and is caught once the window has passed.
        if let used = stored.usedAt, now.timeIntervalSince(used) < raceWindow { return .raced }
        let successor = SecureToken(tag: tagsKeys ? KeyTag(key: token.hashed) : nil)
        switch try await store.rotateRefreshToken(key: token.hashed, newKey: successor.hashed, now: now, lifetime: lifetime) {
        case .rotated(let record):
            return .signedIn(userID: record.userID, token: successor.text)
        case .reused(let record):
            // Two requests rotated it at once: the store has ended the family (the other request
            // still signed in), but nothing else is wrong.
            if let used = record.usedAt, now.timeIntervalSince(used) < raceWindow { return .raced }
            return .theft(userID: record.userID)
        case .invalid:
            return .invalid
        }
    }

    /// The devices `userID` keeps signed in, most recently used first.
    public func devices(ofUser userID: String) async throws -> [Device] {
        let live = try await records(ofUser: userID).filter { $0.usedAt == nil }
        return live.map { record in
            Device(
                id: Self.deviceID(family: record.familyID),
                label: Self.label(scope: record.scope),
                lastUsed: record.issuedAt,
                expires: record.familyExpiresAt
            )
        }
        .sorted { $0.lastUsed > $1.lastUsed }
    }

    /// The device a remember cookie's token belongs to, if the token is live or was used.
    public func deviceID(ofToken text: String) async throws -> String? {
        try await stored(text, now: clock.now()).map { Self.deviceID(family: $0.record.familyID) }
    }

    /// Forgets one of `userID`'s devices by its `Device.id` (its cookie stops working); false when
    /// the user has no such device.
    public func forget(device id: String, ofUser userID: String) async throws -> Bool {
        let families = Set(try await records(ofUser: userID).map(\.familyID))
        guard let family = families.first(where: { ConstantTime.equals(Self.deviceID(family: $0), id) }) else { return false }
        return try await store.revokeFamily(family) > 0
    }

    /// A device's public handle: 96 bits of SHA-256 of its family ID, in hex.
    static func deviceID(family: String) -> String {
        String(SecureToken.hash("remembered device:" + family).prefix(24))
    }

    static func scope(label: String?) -> String {
        guard let label = label?.trimmingCharacters(in: .whitespacesAndNewlines), !label.isEmpty else { return "remember" }
        return "remember " + label.prefix(utf8Bytes: maxLabelBytes)
    }

    static func label(scope: String) -> String? {
        guard scope.hasPrefix("remember "), scope.count > 9 else { return nil }
        return String(scope.dropFirst(9))
    }

    /// Ends the device's family of `text` (signing out on that device); nothing for an unknown token.
    public func forget(_ text: String) async throws {
        guard let (_, record) = try await stored(text, now: clock.now()) else { return }
        _ = try await store.revokeFamily(record.familyID)
    }

    /// The stored remember record (live or used) of the token a cookie holds, with the token; nil
    /// for a malformed, unknown or expired token, or another client's.
    private func stored(_ text: String, now: Date) async throws -> (token: SecureToken, record: RefreshTokenRecord)? {
        guard let token = SecureToken(validating: text),
            let record = try await store.refreshToken(key: token.hashed, now: now), record.clientID == Self.clientID
        else { return nil }
        return (token, record)
    }

    /// Every live remember record of `userID` (used ones too): one family per device.
    private func records(ofUser userID: String) async throws -> [RefreshTokenRecord] {
        try await store.refreshTokens(forUser: userID, now: clock.now()).filter { $0.clientID == Self.clientID }
    }
}

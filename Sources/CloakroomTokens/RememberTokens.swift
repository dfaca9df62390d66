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
    let clock: any CloakroomClock
    let tagsKeys: Bool

    public init(store: any TokenStore, lifetime: TimeInterval = 30 * 86_400, clock: any CloakroomClock = SystemClock()) {
        self.store = store
        self.lifetime = lifetime
        self.clock = clock
        self.tagsKeys = (store as? any KeyTaggedStore)?.requiresKeyTags ?? false
    }

    /// What presenting a remember cookie came to.
    public enum Redemption: Sendable, Equatable {
        /// Sign `userID` in; the cookie now holds `token`.
        case signedIn(userID: String, token: String)
        /// An already-used token: the cookie was copied. End everything of `userID`.
        case theft(userID: String)
        /// Unknown, expired, ended, or not a remember token.
        case invalid
    }

    /// A new remember token for `userID` (a new family: one device).
    public func issue(userID: String) async throws -> String {
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
                scope: "remember",
                issuedAt: now,
                expiresAt: now.addingTimeInterval(lifetime),
                familyExpiresAt: now.addingTimeInterval(lifetime)
            )
        )
        return token.text
    }

    /// Rotates the token a cookie presents (see the type's rules).
    public func redeem(_ text: String) async throws -> Redemption {
        guard let token = SecureToken(validating: text) else { return .invalid }
        let now = clock.now()
        guard let stored = try await store.refreshToken(key: token.hashed, now: now), stored.clientID == Self.clientID else { return .invalid }
        let successor = SecureToken(tag: tagsKeys ? KeyTag(key: token.hashed) : nil)
        switch try await store.rotateRefreshToken(key: token.hashed, newKey: successor.hashed, now: now, lifetime: lifetime) {
        case .rotated(let record):
            return .signedIn(userID: record.userID, token: successor.text)
        case .reused(let record):
            return .theft(userID: record.userID)
        case .invalid:
            return .invalid
        }
    }

    /// Ends the device's family of `text` (signing out on that device); nothing for an unknown token.
    public func forget(_ text: String) async throws {
        guard let token = SecureToken(validating: text),
            let stored = try await store.refreshToken(key: token.hashed, now: clock.now()), stored.clientID == Self.clientID
        else { return }
        _ = try await store.revokeFamily(stored.familyID)
    }
}

public import CloakroomCore
public import Foundation

/// One refresh token at rest. The client holds 256 random bits; the store holds only their
/// SHA-256 (`key`, lowercase hex), so a leaked store leaks no usable refresh token.
///
/// Every refresh token belongs to a family: the chain of tokens that started with one sign-in.
/// A used token stays in the store (with `usedAt` set) until it expires, so that a second use is
/// recognised as reuse and ends the whole family (RFC 9700 section 4.14).
public struct RefreshTokenRecord: Sendable, Hashable, Codable {
    /// SHA-256 of the token, lowercase hex.
    public var key: String
    /// The family (one per sign-in), random and opaque.
    public var familyID: String
    /// The account the tokens act for.
    public var userID: String
    /// The client the family was issued to.
    public var clientID: String
    /// Space-separated scopes granted to the family.
    public var scope: String
    /// When this token was issued.
    public var issuedAt: Date
    /// When this token stops working (the idle lifetime, capped by `familyExpiresAt`).
    public var expiresAt: Date
    /// When the family ends, however often it is refreshed.
    public var familyExpiresAt: Date
    /// When the token was exchanged for its successor; nil while it is the family's live token.
    public var usedAt: Date?

    public init(
        key: String,
        familyID: String,
        userID: String,
        clientID: String,
        scope: String,
        issuedAt: Date,
        expiresAt: Date,
        familyExpiresAt: Date,
        usedAt: Date? = nil
    ) {
        self.key = key
        self.familyID = familyID
        self.userID = userID
        self.clientID = clientID
        self.scope = scope
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.familyExpiresAt = familyExpiresAt
        self.usedAt = usedAt
    }
}

extension RefreshTokenRecord {
    /// The token that replaces this one at `now` under `key`: same family, user, client and scope,
    /// expiring at `min(now + lifetime, familyExpiresAt)` (what a rotation stores).
    public func successor(key: String, now: Date, lifetime: TimeInterval) -> RefreshTokenRecord {
        RefreshTokenRecord(
            key: key,
            familyID: familyID,
            userID: userID,
            clientID: clientID,
            scope: scope,
            issuedAt: now,
            expiresAt: min(now.addingTimeInterval(lifetime), familyExpiresAt),
            familyExpiresAt: familyExpiresAt
        )
    }
}

/// What ``RefreshTokenStore/rotateRefreshToken(key:newKey:now:lifetime:)`` did.
public enum RefreshRotation: Sendable, Hashable {
    /// The token was live: it is now used, and `successor` (same family) is stored.
    case rotated(successor: RefreshTokenRecord)
    /// The token had already been used: the whole family has been deleted. `record` is the
    /// reused token as it was stored.
    case reused(RefreshTokenRecord)
    /// No such token, it expired, or its family was revoked. Nothing was written.
    case invalid
}

/// What revocation says about one access token: read in one round trip on every Bearer request.
public struct RevocationState: Sendable, Hashable {
    /// The user's revocation epoch (milliseconds since 1970 of the last "sign out everywhere",
    /// password change or disabling; 0 when none is remembered). Access tokens whose `epoch` claim
    /// is lower were issued before it and are refused.
    public var epoch: Int
    /// Whether the token's `jti` is on the deny-list.
    public var denied: Bool
    /// Whether the token's sign-in (`sid`, its refresh-token family) is on the deny-list: the
    /// family was signed out, revoked or ended by reuse detection.
    public var sessionDenied: Bool

    public init(epoch: Int, denied: Bool, sessionDenied: Bool = false) {
        self.epoch = epoch
        self.denied = denied
        self.sessionDenied = sessionDenied
    }

    /// The deny-list ID that stands for a whole sign-in: `sid:` and the family ID. It never equals
    /// a `jti`: ours are base64url, which has no colon.
    public static func deniedID(sessionID: String) -> String { "sid:" + sessionID }
}

/// Where refresh-token families live: the refresh half of token state.
///
/// Contract (every implementation passes `TokenStoreConformance` in CloakroomTesting):
/// - Keys are SHA-256 hex digests; the store never receives a raw refresh token.
/// - Expired records are never returned and may linger until swept (`SweepableStore`).
/// - ``rotateRefreshToken(key:newKey:now:lifetime:)`` is atomic: of two concurrent rotations of
///   one token exactly one gets `.rotated`; the other sees the token used, gets `.reused`, and the
///   family (including the successor just issued) is gone.
public protocol RefreshTokenStore: Sendable {
    /// Stores the first token of a new family. Fails with `StoreError.duplicateKey` if the
    /// key exists.
    func insertRefreshToken(_ record: RefreshTokenRecord) async throws

    /// The stored record for `key` (live or used), or nil when there is none or it expired at `now`.
    func refreshToken(key: String, now: Date) async throws -> RefreshTokenRecord?

    /// Exchanges the token `key` for a successor with key `newKey`, atomically:
    /// - live (unused, not expired at `now`): mark it used at `now`, store a successor in the same
    ///   family issued at `now`, expiring at `min(now + lifetime, familyExpiresAt)` → `.rotated`;
    /// - already used (and not expired): delete every token of its family → `.reused`;
    /// - missing or expired → `.invalid`.
    func rotateRefreshToken(key: String, newKey: String, now: Date, lifetime: TimeInterval) async throws -> RefreshRotation

    /// Deletes every token of one family; returns how many records were removed.
    func revokeFamily(_ familyID: String) async throws -> Int

    /// Deletes every refresh token of one user; returns how many records were removed.
    func revokeRefreshTokens(forUser userID: String) async throws -> Int

    /// Every refresh-token record of one user not expired at `now`, used or not, of every family
    /// and client, in no particular order (the devices a user keeps signed in; a family's live token
    /// is the one not used).
    func refreshTokens(forUser userID: String, now: Date) async throws -> [RefreshTokenRecord]
}

/// Where access-token revocation lives: per-user revocation epochs and the deny-list of access
/// token IDs (`jti`) and of whole sign-ins (`sid`), read on every Bearer request.
///
/// Contract (every implementation passes `TokenStoreConformance` in CloakroomTesting):
/// - An epoch only ever rises (``raiseEpoch(forUser:to:keepUntil:)`` keeps the larger value and the
///   later expiry). A forgotten (expired) epoch reads 0; keep it at least as long as the longest
///   access token lifetime plus leeway, so no token issued before it is still valid then.
/// - A denied sign-in is a deny-list entry under ``RevocationState/deniedID(sessionID:)``
///   (``denySession(_:until:)``); ``revocationState(userID:tokenID:sessionID:now:)`` reads the
///   epoch, the `jti` and the `sid` entries in one round trip.
public protocol RevocationStore: Sendable {
    /// Raises the user's revocation epoch to `epoch` (keeping the larger of the stored and the new
    /// value) and keeps it at least until `keepUntil`.
    func raiseEpoch(forUser userID: String, to epoch: Int, keepUntil: Date) async throws

    /// Puts one access token's `jti` on the deny-list until `until` (its expiry plus leeway).
    func denyTokenID(_ tokenID: String, until: Date) async throws

    /// The user's epoch, whether `tokenID` is denied and whether the sign-in `sessionID` is denied
    /// (its entry under ``RevocationState/deniedID(sessionID:)``; false when `sessionID` is nil), as
    /// of `now`, in one round trip.
    func revocationState(userID: String, tokenID: String, sessionID: String?, now: Date) async throws -> RevocationState
}

extension RevocationStore {
    /// Puts a whole sign-in (a refresh-token family, the `sid` of its access tokens) on the
    /// deny-list until `until`: every access token of it is refused, whatever its `jti`. Keep it
    /// until the last of them has expired (now + the longest access token lifetime + leeway).
    public func denySession(_ sessionID: String, until: Date) async throws {
        try await denyTokenID(RevocationState.deniedID(sessionID: sessionID), until: until)
    }
}

/// Where token state lives: refresh-token families and revocation, every record of which expires
/// (so it is swept, and lives at the store URL beside the sessions: a cluster sharing that store
/// agrees on it). `TokenService` needs all three abilities; every backend here has them.
public typealias TokenStore = RefreshTokenStore & RevocationStore & SweepableStore

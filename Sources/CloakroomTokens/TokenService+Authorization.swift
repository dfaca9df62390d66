import CloakroomCore
public import Foundation
import Logging

extension TokenService {
    /// Starts a refresh-token family whose first token is an authorization code (OAuth's code
    /// flow): stored, like every refresh token, only as the SHA-256 of its text (carrying the user's
    /// tag when the store shards by key), usable once within `lifetime`. Exchanging it
    /// (`exchangeAuthorization`) is the family's first rotation, so every store's atomic rotation
    /// makes a code single-use, and a second exchange is reuse: the family, with every token
    /// issued for the code, is revoked (RFC 6749 §4.1.2, RFC 9700 §4.14).
    public func beginAuthorization(code: String, userID: String, clientID: String, scope: String, lifetime: TimeInterval) async throws {
        let now = clock.now()
        let tag = tagsKeys ? KeyTag(user: userID) : nil
        let family = SecureToken(byteCount: 16).text
        try await store.insertRefreshToken(
            RefreshTokenRecord(
                key: codeKey(code, tag: tag),
                familyID: tag?.prefixing(family) ?? family,
                userID: userID,
                clientID: clientID,
                scope: scope,
                issuedAt: now,
                expiresAt: now.addingTimeInterval(max(1, min(lifetime, configuration.refreshAbsoluteLifetime))),
                familyExpiresAt: now.addingTimeInterval(configuration.refreshAbsoluteLifetime)
            )
        )
    }

    /// Exchanges an authorization code for the family's first access and refresh tokens. Throws
    /// `RefreshError`: `.invalid` (unknown, expired, revoked), `.wrongClient` (checked before the
    /// code is spent, so another client cannot burn it), `.reused` (already exchanged: the family
    /// is revoked and its `sid` denied, so the first exchange's tokens stop working too).
    public func exchangeAuthorization(code: String, userID: String, clientID: String) async throws -> Grant {
        let now = clock.now()
        let tag = tagsKeys ? KeyTag(user: userID) : nil
        let key = codeKey(code, tag: tag)
        guard let stored = try await store.refreshToken(key: key, now: now) else { throw RefreshError(reason: .invalid) }
        guard ConstantTime.equals(stored.clientID, clientID), stored.userID == userID else { throw RefreshError(reason: .wrongClient) }
        let refresh = SecureToken(tag: tag)
        switch try await store.rotateRefreshToken(key: key, newKey: refresh.hashed, now: now, lifetime: configuration.refreshIdleLifetime) {
        case .rotated(let record):
            return try await grant(for: record, refreshToken: refresh.text, now: now)
        case .reused(let record):
            try await denyFamily(record.familyID)
            logger.warning(
                "authorization code used twice: revoked every token issued for it",
                metadata: ["user": "\(record.userID)", "client": "\(record.clientID)"]
            )
            throw RefreshError(reason: .reused)
        case .invalid:
            throw RefreshError(reason: .invalid)
        }
    }

    /// Where a code is stored: SHA-256 of its text, its first four hex digits replaced by the
    /// user's tag when the store shards by key (as `TokenStoreConformance` keys are).
    func codeKey(_ code: String, tag: KeyTag?) -> String {
        let hashed = SecureToken.hash(code)
        guard let tag else { return hashed }
        return tag.hex + hashed.dropFirst(4)
    }
}

extension TokenService {
    /// Records `identifier` (a client assertion's `jti`, scoped by its issuer `owner`) as used until
    /// `until`; false when it was recorded before. Atomic in every store: it is a refresh-token
    /// record keyed by the SHA-256 of `owner` and `identifier`, and every store refuses a second
    /// insert of a key, so two concurrent uses cannot both pass. The record can never be redeemed
    /// as a refresh token (no token text hashes to it) and expires at `until`.
    public func markUsed(_ identifier: String, owner: String, until: Date) async throws -> Bool {
        let now = clock.now()
        let tag = tagsKeys ? KeyTag(user: owner) : nil
        let key = codeKey("used-once\u{0}" + owner + "\u{0}" + identifier, tag: tag)
        let family = SecureToken(byteCount: 16).text
        let expires = max(until, now.addingTimeInterval(1))
        do {
            try await store.insertRefreshToken(
                RefreshTokenRecord(
                    key: key,
                    familyID: tag?.prefixing(family) ?? family,
                    userID: owner,
                    clientID: owner,
                    scope: "",
                    issuedAt: now,
                    expiresAt: expires,
                    familyExpiresAt: expires,
                    usedAt: now
                )
            )
            return true
        } catch let error as StoreError where error.isDuplicateKey {
            return false
        }
    }
}

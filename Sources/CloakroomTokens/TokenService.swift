import CloakroomCore
public import Foundation
public import Logging

/// Token sign-in as a whole: issuing an access token with a rotating refresh token, refreshing,
/// verifying with revocation, and the three ways of revoking (one family, one token, everything
/// of a user). The HTTP layer only moves its inputs and outputs.
///
/// - A sign-in starts a refresh-token family (its ID is the access token's `sid`).
/// - A refresh exchanges the refresh token for a new pair; presenting a used refresh token again
///   revokes the whole family (reuse detection, RFC 9700 section 4.14).
/// - Whenever a family ends early (reuse, sign-out, RFC 7009 revocation of its refresh token), its
///   `sid` also goes on the deny-list until every access token of it has expired, so its access
///   tokens stop working at once, not only its refresh tokens.
/// - ``revokeEverything(forUser:)`` raises the user's epoch: every access token carrying an older
///   epoch is refused from then on, though its signature and `exp` are still good.
/// - ``authenticate(_:)`` verifies the JWT and then reads the user's epoch and the deny-list
///   entries of its `jti` and its `sid` in one store round trip.
public struct TokenService: Sendable {
    /// Lifetimes and names.
    public struct Configuration: Sendable, Hashable {
        /// `aud` of issued tokens and the audience the verifier requires.
        public var audience: String
        /// `client_id` of tokens issued by password sign-in.
        public var clientID: String
        /// A refresh token stops working after this long unused (sliding with each refresh).
        public var refreshIdleLifetime: TimeInterval
        /// A family ends this long after its sign-in, however often it is refreshed.
        public var refreshAbsoluteLifetime: TimeInterval

        public init(
            audience: String,
            clientID: String = "cloakroom",
            refreshIdleLifetime: TimeInterval = 14 * 86_400,
            refreshAbsoluteLifetime: TimeInterval = 30 * 86_400
        ) {
            self.audience = audience
            self.clientID = clientID
            self.refreshIdleLifetime = refreshIdleLifetime
            self.refreshAbsoluteLifetime = max(refreshAbsoluteLifetime, 1)
        }
    }

    /// What a sign-in or refresh hands the client (RFC 6749 section 5.1).
    public struct Grant: Sendable, Hashable {
        public let accessToken: String
        public let refreshToken: String
        /// Seconds until the access token expires.
        public let expiresIn: Int
        /// Seconds until the refresh token expires unless used.
        public let refreshExpiresIn: Int
        public let scope: String
        public let claims: AccessTokenClaims
    }

    /// Why a refresh was refused: `invalid_grant` (RFC 6749 section 5.2) in every case, with the
    /// reason for logs and the client's message.
    public struct RefreshError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Why a refresh was refused, stable for logs and the API's `reason` field.
        public enum Reason: String, Sendable, Hashable {
            /// Unknown, expired, revoked, or not shaped like one of ours.
            case invalid
            /// Already used: the family has been revoked.
            case reused
            /// Issued to another client.
            case wrongClient = "wrong_client"
        }
        public let reason: Reason

        public init(reason: Reason) {
            self.reason = reason
        }

        public var message: String {
            switch reason {
            case .invalid: "the refresh token is invalid, expired or revoked"
            case .reused: "the refresh token was already used; every token of this sign-in has been revoked"
            case .wrongClient: "the refresh token was issued to another client"
            }
        }
        public var description: String { "RefreshError(\(reason.rawValue))" }
    }

    public let issuer: AccessTokenIssuer
    public let verifier: TokenVerifier
    public let store: any TokenStore
    public let configuration: Configuration
    let logger: Logger
    /// Whether the store needs refresh tokens and family IDs to carry their user's `KeyTag`.
    let tagsKeys: Bool

    public init(
        issuer: AccessTokenIssuer,
        verifier: TokenVerifier,
        store: any TokenStore,
        configuration: Configuration,
        logger: Logger = Logger(label: "cloakroom.tokens")
    ) {
        self.issuer = issuer
        self.verifier = verifier
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.tagsKeys = (store as? any KeyTaggedStore)?.requiresKeyTags ?? false
    }

    var clock: any CloakroomClock { issuer.clock }

    /// Starts a family for `userID` after the caller has checked the user's credentials.
    public func signIn(userID: String, clientID: String? = nil, scope: String = "") async throws -> Grant {
        let now = clock.now()
        // A store that shards by key (Redis Cluster) keeps a user's token state under the user's tag.
        let tag = tagsKeys ? KeyTag(user: userID) : nil
        let refresh = SecureToken(tag: tag)
        let family = SecureToken(byteCount: 16).text
        let record = RefreshTokenRecord(
            key: refresh.hashed,
            familyID: tag?.prefixing(family) ?? family,
            userID: userID,
            clientID: clientID ?? configuration.clientID,
            scope: scope,
            issuedAt: now,
            expiresAt: now.addingTimeInterval(min(configuration.refreshIdleLifetime, configuration.refreshAbsoluteLifetime)),
            familyExpiresAt: now.addingTimeInterval(configuration.refreshAbsoluteLifetime)
        )
        try await store.insertRefreshToken(record)
        return try await grant(for: record, refreshToken: refresh.text, now: now)
    }

    /// Exchanges a refresh token for a new pair (rotation).
    public func refresh(_ refreshToken: String, clientID: String? = nil) async throws -> Grant {
        guard let token = SecureToken(validating: refreshToken) else { throw RefreshError(reason: .invalid) }
        let now = clock.now()
        if let clientID {
            // Checked before rotating, so a wrong client cannot burn someone else's token.
            guard let stored = try await store.refreshToken(key: token.hashed, now: now) else {
                throw RefreshError(reason: .invalid)
            }
            guard ConstantTime.equals(stored.clientID, clientID) else {
                throw RefreshError(reason: .wrongClient)
            }
        }
        // The successor stays where its family is: under the tag its predecessor's key carries.
        let successor = SecureToken(tag: tagsKeys ? KeyTag(key: token.hashed) : nil)
        switch try await store.rotateRefreshToken(key: token.hashed, newKey: successor.hashed, now: now, lifetime: configuration.refreshIdleLifetime)
        {
        case .rotated(let record):
            return try await grant(for: record, refreshToken: successor.text, now: now)
        case .reused(let record):
            // The store has deleted the family's refresh tokens; its access tokens end here.
            try await denyFamily(record.familyID)
            logger.warning(
                "refresh token reused: revoked its whole family",
                metadata: ["user": "\(record.userID)", "client": "\(record.clientID)"]
            )
            throw RefreshError(reason: .reused)
        case .invalid:
            throw RefreshError(reason: .invalid)
        }
    }

    /// Verifies a presented access token, including revocation: its `jti`, its sign-in (`sid`) and
    /// the user's epoch, read in one store round trip.
    public func authenticate(_ accessToken: String) async throws -> AccessTokenClaims {
        let claims = try await verifier.verify(accessToken)
        let state = try await store.revocationState(
            userID: claims.subject,
            tokenID: claims.tokenID,
            sessionID: claims.sessionID,
            now: clock.now()
        )
        if state.denied { throw TokenError.revoked("the token has been revoked") }
        if state.sessionDenied {
            throw TokenError.revoked("the token was revoked: its sign-in was signed out, revoked or ended by refresh token reuse")
        }
        if claims.epoch < state.epoch {
            throw TokenError.revoked("the token was revoked: the user signed out everywhere, changed password or was disabled")
        }
        return claims
    }

    /// Revokes whatever `token` is (RFC 7009): a refresh token ends its family, access tokens
    /// included (the family's `sid` goes on the deny-list); a valid access token of ours goes on the
    /// deny-list until it expires. Unknown tokens are ignored. Returns what was revoked, for logs.
    @discardableResult
    public func revoke(_ token: String) async throws -> String {
        let now = clock.now()
        if let refresh = SecureToken(validating: token) {
            guard let record = try await store.refreshToken(key: refresh.hashed, now: now) else { return "nothing" }
            try await revokeFamily(record.familyID)
            logger.info("token sign-in revoked (RFC 7009, refresh token)", metadata: ["user": "\(record.userID)", "client": "\(record.clientID)"])
            return "refresh token family"
        }
        guard let claims = try? await verifier.verify(token) else { return "nothing" }
        try await denyAccessToken(claims)
        logger.info("access token revoked (RFC 7009)", metadata: ["user": "\(claims.subject)", "client": "\(claims.clientID)"])
        return "access token"
    }

    /// Sign-out with an access token: it goes on the deny-list, and its family (`sid`) is revoked:
    /// its refresh tokens are deleted and every other access token of it is refused too.
    public func signOut(_ claims: AccessTokenClaims) async throws {
        logger.info("token sign-out", metadata: ["user": "\(claims.subject)", "client": "\(claims.clientID)"])
        try await denyAccessToken(claims)
        if let family = claims.sessionID {
            try await revokeFamily(family)
        }
    }

    /// "Sign out everywhere" / password change: every refresh token of the user is deleted, then
    /// every access token issued until now is refused (the epoch rises). Returns how many refresh
    /// tokens were deleted.
    ///
    /// In that order: a rotation is atomic in every store, so one racing this either ran before the
    /// deletion (its successor is deleted, its access token predates the epoch) or finds its token
    /// gone; with the epoch first, a refresh between the two steps would get an access token newer
    /// than the epoch. Should raising the epoch fail, the refresh tokens are already gone.
    @discardableResult
    public func revokeEverything(forUser userID: String) async throws -> Int {
        logger.info("every token of the user revoked", metadata: ["user": "\(userID)"])
        let deleted = try await store.revokeRefreshTokens(forUser: userID)
        // Read after the deletion: an access token from a rotation that beat it was stamped earlier.
        let now = clock.now()
        let epoch = Int((now.timeIntervalSince1970 * 1000).rounded(.up))
        // Kept well beyond the longest access token lifetime: an epoch forgotten too early would
        // let older tokens back in.
        let keepUntil = now.addingTimeInterval(max(issuer.keyRing.configuration.maxTokenLifetime + verifier.configuration.leeway + 60, 86_400))
        try await store.raiseEpoch(forUser: userID, to: epoch, keepUntil: keepUntil)
        return deleted
    }

    /// Deletes a family's refresh tokens and puts its `sid` on the deny-list.
    func revokeFamily(_ familyID: String) async throws {
        // Denied first: should the deletion fail, the sign-in's access tokens are already refused.
        try await denyFamily(familyID)
        _ = try await store.revokeFamily(familyID)
    }

    /// Puts a family's `sid` on the deny-list until every access token it may have been given has
    /// expired: the longest lifetime the key ring allows, plus the verifier's leeway, plus a minute
    /// for a token being issued while this runs.
    func denyFamily(_ familyID: String) async throws {
        let until = clock.now().addingTimeInterval(
            issuer.keyRing.configuration.maxTokenLifetime + verifier.configuration.leeway + 60
        )
        try await store.denySession(familyID, until: until)
    }

    func denyAccessToken(_ claims: AccessTokenClaims) async throws {
        try await store.denyTokenID(claims.tokenID, until: claims.expiresAt.addingTimeInterval(verifier.configuration.leeway))
    }

    func grant(for record: RefreshTokenRecord, refreshToken: String, now: Date) async throws -> Grant {
        let state = try await store.revocationState(userID: record.userID, tokenID: "", sessionID: nil, now: now)
        let (accessToken, claims) = try await issuer.issue(
            subject: record.userID,
            audience: configuration.audience,
            clientID: record.clientID,
            scope: record.scope,
            epoch: state.epoch,
            sessionID: record.familyID
        )
        return Grant(
            accessToken: accessToken,
            refreshToken: refreshToken,
            expiresIn: Int(claims.expiresAt.timeIntervalSince(claims.issuedAt).rounded()),
            refreshExpiresIn: Int(record.expiresAt.timeIntervalSince(now).rounded(.down)),
            scope: record.scope,
            claims: claims
        )
    }
}

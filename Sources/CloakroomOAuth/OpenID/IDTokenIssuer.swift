public import CloakroomCore
public import CloakroomTokens
import Crypto
public import Foundation

/// OpenID Connect ID tokens (Core §2, §3.1.3.6): who signed in, for which client, when, and the
/// hash of the access token issued beside it, signed by a key ring of their own (RS256 by
/// default: discovery must offer it, and relying parties expect it unless they registered
/// another algorithm; EdDSA is available, named `EdDSA` in the JOSE header).
public struct IDTokenIssuer: Sendable {
    /// The claims of one ID token.
    public struct Claims: Codable, Sendable, Equatable {
        public var issuer: String
        public var subject: String
        public var audience: String
        public var authorizedParty: String
        public var expiresAt: Int
        public var issuedAt: Int
        public var authTime: Int
        public var nonce: String?
        public var accessTokenHash: String?
        /// The provider's browser session this sign-in belongs to (front/back-channel logout).
        public var sessionID: String?

        enum CodingKeys: String, CodingKey {
            case issuer = "iss"
            case subject = "sub"
            case audience = "aud"
            case authorizedParty = "azp"
            case expiresAt = "exp"
            case issuedAt = "iat"
            case authTime = "auth_time"
            case nonce
            case accessTokenHash = "at_hash"
            case sessionID = "sid"
        }
    }

    public let keyRing: TokenKeyRing
    public let issuer: String
    /// How long an ID token is valid (default 5 minutes): it proves a sign-in to the client at
    /// that moment, it is not a credential to keep.
    public let lifetime: TimeInterval
    let clock: any CloakroomClock

    public init(keyRing: TokenKeyRing, issuer: String, lifetime: TimeInterval = 300, clock: any CloakroomClock = SystemClock()) {
        self.keyRing = keyRing
        self.issuer = issuer
        self.lifetime = lifetime
        self.clock = clock
    }

    /// An ID token for `subject` signed in at `authTime`, issued to `clientID` beside `accessToken`.
    public func issue(
        subject: String,
        clientID: String,
        authTime: Date,
        nonce: String?,
        accessToken: String?,
        sessionID: String?
    ) throws -> (token: String, claims: Claims) {
        let now = Int(clock.now().timeIntervalSince1970)
        let algorithm = try keyRing.signingAlgorithm()
        let claims = Claims(
            issuer: issuer,
            subject: subject,
            audience: clientID,
            authorizedParty: clientID,
            expiresAt: now + Int(lifetime),
            issuedAt: now,
            authTime: Int(authTime.timeIntervalSince1970),
            nonce: nonce,
            accessTokenHash: accessToken.map { Self.accessTokenHash($0, algorithm: algorithm) },
            sessionID: sessionID
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let signed = try keyRing.signCompact(claims: try encoder.encode(claims), type: "JWT")
        guard signed.algorithm == algorithm else {
            // The active key changed between the two reads: sign again so at_hash matches `alg`.
            return try issue(subject: subject, clientID: clientID, authTime: authTime, nonce: nonce, accessToken: accessToken, sessionID: sessionID)
        }
        return (signed.token, claims)
    }

    /// `at_hash` (OpenID Connect Core §3.1.3.6): the left half of the hash of the access token's
    /// ASCII, base64url, with the hash of the ID token's `alg` (SHA-256 for RS256, ES256, PS256,
    /// HS256; SHA-384 and SHA-512 for the 384 and 512 variants; SHA-512 for EdDSA with Ed25519).
    public static func accessTokenHash(_ accessToken: String, algorithm: TokenAlgorithm) -> String {
        let bytes = Data(accessToken.utf8)
        let digest: [UInt8] =
            switch algorithm {
            case .es384, .rs384, .ps384, .hs384: Array(SHA384.hash(data: bytes))
            case .es512, .rs512, .ps512, .hs512, .eddsa: Array(SHA512.hash(data: bytes))
            default: Array(SHA256.hash(data: bytes))
            }
        return Base64URL.encode(digest.prefix(digest.count / 2))
    }
}

extension IDTokenIssuer {
    /// The event a logout token carries (OpenID Connect Back-Channel Logout 1.0 §2.4).
    public static let backChannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

    /// A logout token (Back-Channel Logout §2.4): `iss`, `sub`, `aud` (the client), `iat`, `exp`
    /// (2 minutes), `jti`, `sid` and the back-channel logout event, never a `nonce`; header
    /// `typ: logout+jwt`; signed like ID tokens, so relying parties verify it with the same keys.
    public func logoutToken(subject: String, clientID: String, sessionID: String?) throws -> String {
        struct Claims: Encodable {
            let iss: String
            let sub: String
            let aud: String
            let iat: Int
            let exp: Int
            let jti: String
            /// Absent: every session of `sub` at the client (Back-Channel Logout 1.0 §2.4).
            let sid: String?
            let events: [String: [String: String]]
        }
        let now = Int(clock.now().timeIntervalSince1970)
        let claims = Claims(
            iss: issuer,
            sub: subject,
            aud: clientID,
            iat: now,
            exp: now + 120,
            jti: SecureToken(byteCount: 16).text,
            sid: sessionID,
            events: [Self.backChannelLogoutEvent: [:]]
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try keyRing.signCompact(claims: try encoder.encode(claims), type: "logout+jwt").token
    }
}

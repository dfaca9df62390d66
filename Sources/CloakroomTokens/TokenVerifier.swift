public import CloakroomCore
public import Foundation

/// Verifies Cloakroom access tokens (RFC 9068 JWT profile) for a resource server.
///
/// In order: size limit and strict compact form; header rules (``JWSVerifier``); `typ` must be
/// `at+jwt` or `application/at+jwt` (case-insensitive, RFC 9068 section 4); the key named by
/// `kid` and its one algorithm; the signature; then the claims: `iss`, `aud`, `exp`, `nbf`, `iat`,
/// with ``Configuration/leeway`` for clock skew. Each refusal is a ``TokenError`` with its own code.
public struct TokenVerifier: Sendable {
    /// What a token must say to be accepted.
    public struct Configuration: Sendable, Hashable {
        /// The only accepted `iss`.
        public var issuer: String
        /// `aud` (a string or an array) must contain this.
        public var audience: String
        /// Allowed clock skew, in seconds, for `exp`, `nbf` and `iat` (default 30).
        public var leeway: TimeInterval
        /// Tokens longer than this many bytes are refused before parsing (default 8 KiB).
        public var maximumTokenSize: Int

        /// Creates a configuration.
        public init(
            issuer: String,
            audience: String,
            leeway: TimeInterval = 30,
            maximumTokenSize: Int = JWSVerifier.defaultMaximumTokenSize
        ) {
            self.issuer = issuer
            self.audience = audience
            self.leeway = leeway
            self.maximumTokenSize = maximumTokenSize
        }
    }

    /// The accepted `typ` values, lowercased (RFC 9068 section 2.1).
    public static let acceptedTypes: Set<String> = ["at+jwt", "application/at+jwt"]
    /// ``acceptedTypes`` ready for comparing.
    static let acceptedTypesPolicy = JWSVerifier.AcceptedTypes(acceptedTypes)

    /// The accepted issuer, audience and limits.
    public let configuration: Configuration
    /// The signature layer.
    public let jws: JWSVerifier

    /// Creates a verifier that finds keys in `keys` (a ``TokenKeyRing`` or ``VerificationKeySet``).
    public init(keys: any VerificationKeySource, configuration: Configuration, clock: any CloakroomClock = SystemClock()) {
        self.configuration = configuration
        self.jws = JWSVerifier(keys: keys, maximumTokenSize: configuration.maximumTokenSize, clock: clock)
    }

    /// The claims of a valid access token at `now` (default: the clock's time).
    public func verify(_ token: String, now: Date? = nil) async throws(TokenError) -> AccessTokenClaims {
        let now = now ?? jws.clock.now()
        if let keys = jws.immediateKeys {
            // Nothing to wait for: parse into a temporary buffer (on the stack when small) and
            // verify without suspending.
            guard token.utf8.count <= configuration.maximumTokenSize else {
                throw .tooLarge(limit: configuration.maximumTokenSize)
            }
            return try withUTF8(of: token) { utf8 in
                Result { () throws(TokenError) in
                    try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Base64URL.decodingCapacity(utf8.count)) { buffer throws(TokenError) in
                        let parsed = try JWSBytes.parse(utf8, into: buffer)
                        _ = try jws.verify(parsed, token: utf8, acceptedTypes: Self.acceptedTypesPolicy, now: now, keys: keys)
                        return try claims(parsed, now: now)
                    }
                }
            }.get()
        }
        let parsed = try CompactJWS.parse(token, maximumSize: configuration.maximumTokenSize)
        _ = try await jws.verify(parsed, of: token, acceptedTypes: Self.acceptedTypesPolicy, now: now)
        return try parsed.withBytes { bytes throws(TokenError) in try claims(bytes, now: now) }
    }

    /// The claims of a token whose signature has verified, checked at `now`.
    private func claims(_ jws: JWSBytes, now: Date) throws(TokenError) -> AccessTokenClaims {
        let claims = try AccessTokenClaims(payload: jws.payload, issuer: configuration.issuer, audience: configuration.audience)
        try check(claims, now: now)
        return claims
    }

    /// Header rules, the algorithm against the key, and the signature; no claim checks. For
    /// payloads that are not access-token claim sets.
    public func verifySignatureOnly(_ token: String, now: Date? = nil) async throws(TokenError) -> VerifiedJWS {
        try await jws.verifySignatureOnly(token, now: now)
    }

    /// Decodes a token without verifying anything; see ``UnverifiedToken/notice``.
    public static func decode(_ token: String, maximumSize: Int = JWSVerifier.defaultMaximumTokenSize) throws(TokenError) -> UnverifiedToken {
        try UnverifiedToken(decoding: token, maximumSize: maximumSize)
    }

    /// The claim checks, after the signature has verified.
    func check(_ claims: AccessTokenClaims, now: Date) throws(TokenError) {
        let leeway = configuration.leeway
        guard claims.issuer == configuration.issuer else { throw .wrongIssuer() }
        guard claims.audience.contains(configuration.audience) else { throw .wrongAudience() }
        guard now < claims.expiresAt.addingTimeInterval(leeway) else { throw .expired() }
        if let notBefore = claims.notBefore, now < notBefore.addingTimeInterval(-leeway) {
            throw .notYetValid()
        }
        guard claims.issuedAt <= now.addingTimeInterval(leeway) else { throw .issuedInFuture() }
    }
}

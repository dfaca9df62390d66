import CloakroomCore
import Foundation
import JWTKit

/// Issues access tokens in the JWT profile of RFC 9068, signed with the ring's active key.
///
/// Header: `alg` (the key's algorithm), `kid`, `typ: at+jwt`. Claims: ``AccessTokenClaims``.
/// The lifetime never exceeds the ring's `maxTokenLifetime`, so a rotated-out key stays
/// available exactly as long as the tokens it signed.
public struct AccessTokenIssuer: Sendable {
    /// Issuer settings.
    public struct Configuration: Sendable, Hashable {
        /// The `iss` claim: this server's issuer identifier (an https URL in production).
        public var issuer: String
        /// Token lifetime in seconds (default 10 minutes), capped at the ring's `maxTokenLifetime`.
        public var lifetime: TimeInterval

        /// Creates a configuration.
        public init(issuer: String, lifetime: TimeInterval = 600) {
            self.issuer = issuer
            self.lifetime = lifetime
        }
    }

    /// The signing keys.
    public let keyRing: TokenKeyRing
    /// The settings.
    public let configuration: Configuration
    /// The clock for `iat` and `exp`.
    public let clock: any CloakroomClock

    /// Creates an issuer signing with `keyRing`.
    public init(keyRing: TokenKeyRing, configuration: Configuration, clock: any CloakroomClock = SystemClock()) {
        self.keyRing = keyRing
        self.configuration = configuration
        self.clock = clock
    }

    /// The lifetime actually used: the configured one, capped at the ring's maximum.
    public var effectiveLifetime: TimeInterval {
        min(configuration.lifetime, keyRing.configuration.maxTokenLifetime)
    }

    /// Issues a signed access token and returns it with its claims.
    ///
    /// - Parameters:
    ///   - subject: `sub`, the user ID.
    ///   - audience: `aud`, the resource server the token is for.
    ///   - clientID: `client_id`, the OAuth client.
    ///   - scope: `scope`, space-separated.
    ///   - epoch: the user's current revocation epoch.
    ///   - notBefore: an optional `nbf`.
    ///   - sessionID: `sid`, the refresh-token family the token belongs to, if any.
    public func issue(
        subject: String,
        audience: String,
        clientID: String,
        scope: String,
        epoch: Int,
        notBefore: Date? = nil,
        sessionID: String? = nil
    ) async throws(TokenKeyError) -> (token: String, claims: AccessTokenClaims) {
        let key = try await keyRing.signingKey()
        let now = AccessTokenClaims.wholeSeconds(clock.now())
        let claims = AccessTokenClaims(
            issuer: configuration.issuer,
            subject: subject,
            audience: [audience],
            expiresAt: now.addingTimeInterval(effectiveLifetime),
            issuedAt: now,
            notBefore: notBefore,
            tokenID: SecureToken(byteCount: 16).text,
            clientID: clientID,
            scope: scope,
            epoch: epoch,
            sessionID: sessionID
        )
        let header = Header(alg: key.algorithm.name, kid: key.kid, typ: "at+jwt")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let signingInput: String
        do {
            signingInput = Base64URL.encode(try encoder.encode(header)) + "." + Base64URL.encode(try encoder.encode(claims))
        } catch {
            throw TokenKeyError(.signingFailed, "the token could not be encoded")
        }
        let signature: [UInt8]
        do {
            signature = try key.signer.sign(Array(signingInput.utf8))
        } catch {
            throw TokenKeyError(.signingFailed, "signing with key \(key.kid) failed")
        }
        return (signingInput + "." + Base64URL.encode(signature), claims)
    }

    private struct Header: Encodable {
        let alg: String
        let kid: String
        let typ: String
    }
}

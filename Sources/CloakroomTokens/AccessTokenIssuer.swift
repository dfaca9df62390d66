public import CloakroomCore
public import Foundation
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
        let key = try keyRing.signingKey()
        let now = AccessTokenClaims.wholeSeconds(clock.now())
        let claims = AccessTokenClaims(
            issuer: configuration.issuer,
            subject: subject,
            audience: [audience],
            expiresAt: now.addingTimeInterval(effectiveLifetime),
            issuedAt: now,
            notBefore: notBefore,
            tokenID: Self.newTokenID(),
            clientID: clientID,
            scope: scope,
            epoch: epoch,
            sessionID: sessionID
        )
        let header = #"{"alg":"# + Self.jsonString(key.algorithm.name) + #","kid":"# + Self.jsonString(key.kid) + #","typ":"at+jwt"}"#
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let signingInput: String
        do {
            signingInput = Base64URL.encode(header.utf8) + "." + Base64URL.encode(try encoder.encode(claims))
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

    /// 16 random bytes (128 bits) from the system CSPRNG, base64url: a `jti` that never repeats.
    static func newTokenID() -> String {
        var generator = SystemRandomNumberGenerator()
        let words = (generator.next() as UInt64, generator.next() as UInt64)
        return withUnsafeBytes(of: words) { Base64URL.encode($0) }
    }

    /// `text` as a JSON string literal (RFC 8259 section 7): quote, backslash and control
    /// characters escaped, everything else as UTF-8.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{00}"..."\u{1F}", "\u{7F}":
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

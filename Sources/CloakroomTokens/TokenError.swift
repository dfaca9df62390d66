/// Why a token was refused. Each refusal has its own stable `code`; messages are safe to send to
/// the client and never contain the token, a key or a claim value.
///
/// A resource server answers every one of these with `401` and ``wwwAuthenticate`` (RFC 6750
/// section 3.1: `error="invalid_token"`).
public struct TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of refusal, stable for logs, metrics and `error_description`.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// Longer than the verifier's size limit; refused before any parsing.
        case tooLarge = "too_large"
        /// Not three strict base64url segments, or a header or payload that is not the expected JSON.
        case malformed = "malformed"
        /// `alg: none` in any casing (RFC 8725 section 3.1).
        case algNone = "alg_none"
        /// The `alg` header is not the algorithm configured for the key named by `kid`.
        case algMismatch = "alg_mismatch"
        /// The header names no key (`kid` absent) and the key set cannot pick one.
        case missingKid = "missing_kid"
        /// The `kid` names no key the verifier holds (or one whose verification period ended).
        case unknownKid = "unknown_kid"
        /// The key named by `kid` is not for signatures (`use` is not `sig`, or `key_ops` lacks `verify`).
        case keyUseMismatch = "key_use_mismatch"
        /// The signature does not verify.
        case badSignature = "bad_signature"
        /// `exp` has passed (beyond the leeway).
        case expired = "expired"
        /// `nbf` is still in the future (beyond the leeway).
        case notYetValid = "not_yet_valid"
        /// `iat` is in the future (beyond the leeway).
        case issuedInFuture = "issued_in_future"
        /// `iss` is not the configured issuer.
        case wrongIssuer = "wrong_issuer"
        /// `aud` does not contain the configured audience.
        case wrongAudience = "wrong_audience"
        /// `typ` is not `at+jwt` (RFC 9068 section 2.1).
        case wrongType = "wrong_type"
        /// A `crit` header names an extension this verifier does not implement (RFC 7515 section 4.1.11).
        case unsupportedCrit = "unsupported_crit"
        /// The header carries `jwk`, `jku`, `x5u` or `x5c`: keys come from configuration, never the token.
        case embeddedKeyRefused = "embedded_key_refused"
        /// A claim RFC 9068 (or Cloakroom's `epoch`) requires is absent.
        case missingClaim = "missing_claim"
        /// The token was revoked: its `jti` or its sign-in (`sid`) is on the deny-list, or it was
        /// issued before the user's last "sign out everywhere", password change or disabling (its
        /// `epoch` is too old).
        case revoked = "revoked"
    }

    /// The kind.
    public let code: Code
    /// A client-safe explanation (ASCII, no quotes or backslashes, so it fits `error_description`).
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The value of a `WWW-Authenticate` header for this refusal (RFC 6750 section 3).
    public var wwwAuthenticate: String {
        "Bearer error=\"invalid_token\", error_description=\"\(code.rawValue): \(message)\""
    }

    /// The same header value with a `realm` (which must not contain `"` or `\`).
    public func wwwAuthenticate(realm: String) -> String {
        "Bearer realm=\"\(realm)\", error=\"invalid_token\", error_description=\"\(code.rawValue): \(message)\""
    }

    public var description: String { "TokenError(\(code.rawValue)): \(message)" }

    static func tooLarge(limit: Int) -> TokenError { .init(.tooLarge, "token is longer than \(limit) bytes") }
    static func malformed(_ why: String) -> TokenError { .init(.malformed, why) }
    static func algNone() -> TokenError { .init(.algNone, "unsigned tokens (alg none) are refused") }
    static func algMismatch() -> TokenError {
        .init(.algMismatch, "the alg header does not match the algorithm configured for the key")
    }
    static func missingKid() -> TokenError { .init(.missingKid, "the header names no key (kid)") }
    static func unknownKid() -> TokenError { .init(.unknownKid, "the key named by kid is not known") }
    static func keyUseMismatch() -> TokenError {
        .init(.keyUseMismatch, "the key named by kid is not for verifying signatures")
    }
    static func badSignature() -> TokenError { .init(.badSignature, "the signature does not verify") }
    static func expired() -> TokenError { .init(.expired, "the token has expired") }
    static func notYetValid() -> TokenError { .init(.notYetValid, "the token is not valid yet (nbf)") }
    static func issuedInFuture() -> TokenError { .init(.issuedInFuture, "the token was issued in the future (iat)") }
    static func wrongIssuer() -> TokenError { .init(.wrongIssuer, "the token was issued by another issuer") }
    static func wrongAudience() -> TokenError { .init(.wrongAudience, "the token is not meant for this audience") }
    static func wrongType() -> TokenError { .init(.wrongType, "the token type (typ) is not at+jwt") }
    static func unsupportedCrit() -> TokenError {
        .init(.unsupportedCrit, "the token requires header extensions (crit) this server does not support")
    }
    static func embeddedKeyRefused() -> TokenError {
        .init(.embeddedKeyRefused, "keys or key locations in the header (jwk, jku, x5u, x5c) are refused")
    }
    static func missingClaim(_ name: String) -> TokenError { .init(.missingClaim, "the \(name) claim is missing") }
    static func revoked(_ why: String) -> TokenError { .init(.revoked, why) }
}

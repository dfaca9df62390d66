/// Why a token was refused. Each refusal has its own stable `code`; messages are safe to send to
/// the client and never contain the token, a key or a claim value.
///
/// A resource server answers every one of these with `401` and ``wwwAuthenticate`` (RFC 6750
/// section 3.1: `error="invalid_token"`).
public struct TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of refusal, stable for logs, metrics and `error_description`.
    ///
    /// A struct over a private enum (as jwt-kit's `JWTError`): a new kind breaks no caller's `switch`.
    public struct Code: Sendable, Hashable, CaseIterable, CustomStringConvertible {
        private enum Base: String, Sendable, CaseIterable {
            case tooLarge = "too_large"
            case malformed = "malformed"
            case algNone = "alg_none"
            case algMismatch = "alg_mismatch"
            case missingKid = "missing_kid"
            case unknownKid = "unknown_kid"
            case keyUseMismatch = "key_use_mismatch"
            case badSignature = "bad_signature"
            case expired = "expired"
            case notYetValid = "not_yet_valid"
            case issuedInFuture = "issued_in_future"
            case wrongIssuer = "wrong_issuer"
            case wrongAudience = "wrong_audience"
            case wrongType = "wrong_type"
            case unsupportedCrit = "unsupported_crit"
            case embeddedKeyRefused = "embedded_key_refused"
            case missingClaim = "missing_claim"
            case revoked = "revoked"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The stable wire name (`too_large`, `invalid_credentials`, …).
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
        /// Every kind, in declaration order.
        public static var allCases: [Code] { Base.allCases.map(Code.init) }

        /// Longer than the verifier's size limit; refused before any parsing.
        public static let tooLarge = Code(.tooLarge)
        /// Not three strict base64url segments, or a header or payload that is not the expected JSON.
        public static let malformed = Code(.malformed)
        /// `alg: none` in any casing (RFC 8725 section 3.1).
        public static let algNone = Code(.algNone)
        /// The `alg` header is not the algorithm configured for the key named by `kid`.
        public static let algMismatch = Code(.algMismatch)
        /// The header names no key (`kid` absent) and the key set cannot pick one.
        public static let missingKid = Code(.missingKid)
        /// The `kid` names no key the verifier holds (or one whose verification period ended).
        public static let unknownKid = Code(.unknownKid)
        /// The key named by `kid` is not for signatures (`use` is not `sig`, or `key_ops` lacks `verify`).
        public static let keyUseMismatch = Code(.keyUseMismatch)
        /// The signature does not verify.
        public static let badSignature = Code(.badSignature)
        /// `exp` has passed (beyond the leeway).
        public static let expired = Code(.expired)
        /// `nbf` is still in the future (beyond the leeway).
        public static let notYetValid = Code(.notYetValid)
        /// `iat` is in the future (beyond the leeway).
        public static let issuedInFuture = Code(.issuedInFuture)
        /// `iss` is not the configured issuer.
        public static let wrongIssuer = Code(.wrongIssuer)
        /// `aud` does not contain the configured audience.
        public static let wrongAudience = Code(.wrongAudience)
        /// `typ` is not `at+jwt` (RFC 9068 section 2.1).
        public static let wrongType = Code(.wrongType)
        /// A `crit` header names an extension this verifier does not implement (RFC 7515 section 4.1.11).
        public static let unsupportedCrit = Code(.unsupportedCrit)
        /// The header carries `jwk`, `jku`, `x5u` or `x5c`: keys come from configuration, never the token.
        public static let embeddedKeyRefused = Code(.embeddedKeyRefused)
        /// A claim RFC 9068 (or Cloakroom's `epoch`) requires is absent.
        public static let missingClaim = Code(.missingClaim)
        /// The token was revoked: its `jti` or its sign-in (`sid`) is on the deny-list, or it was
        /// issued before the user's last "sign out everywhere", password change or disabling (its
        /// `epoch` is too old).
        public static let revoked = Code(.revoked)
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

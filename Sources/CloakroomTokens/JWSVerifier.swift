import CloakroomCore
import Foundation
import JWTKit

/// Checks a compact JWS against a key source: header rules, the key's one algorithm, and the
/// signature (computed by jwt-kit). Claims are not looked at; ``TokenVerifier`` does that.
///
/// The header decides nothing (RFC 8725 section 2): the key is found by `kid` in the configured
/// source and must have been configured with the `alg` the header names. Refused before any
/// key is touched: `alg: none` in any casing; `jwk`, `jku`, `x5u`, `x5c` (a token never brings
/// or points to its own key); any `crit` (no extensions are implemented).
public struct JWSVerifier: Sendable {
    /// The default size limit: 8 KiB, far above any token Cloakroom issues (about 700 bytes).
    public static let defaultMaximumTokenSize = 8192

    /// Where keys are looked up by `kid`.
    public let keys: any VerificationKeySource
    /// Tokens longer than this many bytes are refused before parsing.
    public let maximumTokenSize: Int
    /// Used when no `now` is given (decides whether a retired key still verifies).
    public let clock: any CloakroomClock

    /// Creates a verifier over `keys`.
    public init(
        keys: any VerificationKeySource,
        maximumTokenSize: Int = JWSVerifier.defaultMaximumTokenSize,
        clock: any CloakroomClock = SystemClock()
    ) {
        self.keys = keys
        self.maximumTokenSize = maximumTokenSize
        self.clock = clock
    }

    /// Verifies the JWS header rules, the algorithm against the key and the signature; the
    /// payload may be anything (it is not read as a JWT claim set).
    public func verifySignatureOnly(_ token: String, now: Date? = nil) async throws(TokenError) -> VerifiedJWS {
        let jws = try CompactJWS.parse(token, maximumSize: maximumTokenSize)
        return try await verify(jws, acceptedTypes: nil, now: now ?? clock.now())
    }

    /// The shared path: header rules, optional `typ` check, key lookup, algorithm, signature.
    func verify(_ jws: CompactJWS, acceptedTypes: Set<String>?, now: Date) async throws(TokenError) -> VerifiedJWS {
        let header = try HeaderRules.check(jws.header)
        if let acceptedTypes {
            guard let typ = jws.header["typ"]?.stringValue, acceptedTypes.contains(typ.lowercased()) else {
                throw .wrongType()
            }
        }
        guard let key = await keys.verificationKey(kid: header.kid, at: now) else {
            throw header.kid == nil ? .missingKid() : .unknownKid()
        }
        guard let verifier = key.verifier, let algorithm = key.algorithm else { throw .keyUseMismatch() }
        guard header.alg == algorithm.name else { throw .algMismatch() }
        let valid = (try? verifier.verify(jws.signature, signs: jws.signingInput)) ?? false
        guard valid else { throw .badSignature() }
        return VerifiedJWS(
            kid: header.kid,
            algorithm: algorithm,
            headerJSON: String(decoding: jws.headerBytes, as: UTF8.self),
            payload: Data(jws.payload)
        )
    }
}

/// The JWS header checks made before any key is looked up.
enum HeaderRules {
    /// Header parameters that carry or point to a key or certificate (RFC 7515 sections 4.1.2-4.1.6).
    static let embeddedKeyParameters = ["jwk", "jku", "x5u", "x5c"]

    /// `alg` and `kid` of an acceptable header.
    static func check(_ header: [String: JSONValue]) throws(TokenError) -> (alg: String, kid: String?) {
        guard let algValue = header["alg"] else { throw .malformed("the header has no alg") }
        guard let alg = algValue.stringValue else { throw .malformed("the alg header is not a string") }
        // A known algorithm name is not "none"; anything else is checked in every casing and spacing.
        if TokenAlgorithm(name: alg) == nil, alg.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() == "none" {
            throw .algNone()
        }
        if embeddedKeyParameters.contains(where: { header[$0] != nil }) {
            throw .embeddedKeyRefused()
        }
        if header["crit"] != nil {
            throw .unsupportedCrit()
        }
        var kid: String?
        if let kidValue = header["kid"] {
            guard let text = kidValue.stringValue else { throw .malformed("the kid header is not a string") }
            kid = text
        }
        return (alg, kid)
    }
}

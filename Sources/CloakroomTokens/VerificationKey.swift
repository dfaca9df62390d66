import Foundation
import JWTKit

/// One key a verifier may check signatures with, bound to exactly one algorithm.
///
/// A key whose JWK says it is not for signatures (`use` other than `sig`, or `key_ops` without
/// `verify`), or that could not be read, is still listed so a token naming it gets a precise
/// refusal (`key_use_mismatch`) instead of `unknown_kid`; it never verifies anything.
public struct VerificationKey: Sendable, CustomStringConvertible {
    /// The key ID, if the key has one.
    public let kid: String?
    /// The only algorithm accepted with this key; nil for keys that never verify.
    public let algorithm: TokenAlgorithm?
    /// Why the key never verifies; nil for a usable key.
    public let unusableReason: String?

    let verifier: (any JWTAlgorithm)?

    init(kid: String?, algorithm: TokenAlgorithm, verifier: any JWTAlgorithm) {
        self.kid = kid
        self.algorithm = algorithm
        self.unusableReason = nil
        self.verifier = verifier
    }

    init(kid: String?, unusableReason: String) {
        self.kid = kid
        self.algorithm = nil
        self.unusableReason = unusableReason
        self.verifier = nil
    }

    /// True when the key verifies signatures.
    public var isUsable: Bool { verifier != nil }

    public var description: String {
        let name = kid ?? "(no kid)"
        if let unusableReason { return "VerificationKey(\(name), unusable: \(unusableReason))" }
        return "VerificationKey(\(name), \(algorithm?.name ?? "?"))"
    }

    /// The key a JWK describes (public, private or `oct`), checked against its `use`/`key_ops`.
    ///
    /// - Parameter algorithm: the algorithm to bind; required for RSA and `oct` keys without `alg`.
    public static func make(jwk: JSONWebKey, algorithm: TokenAlgorithm? = nil) async throws(TokenKeyError) -> VerificationKey {
        guard jwk.allowsVerification else {
            return VerificationKey(kid: jwk.kid, unusableReason: "its use or key_ops does not allow verifying signatures")
        }
        let resolved = try jwk.resolvedAlgorithm(requested: algorithm)
        let material = try KeyMaterial(jwk: jwk, algorithm: resolved)
        return VerificationKey(kid: jwk.kid, algorithm: resolved, verifier: try await material.jwtAlgorithm(for: resolved))
    }
}

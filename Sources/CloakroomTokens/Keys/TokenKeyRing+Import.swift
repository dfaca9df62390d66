import CloakroomCore
public import Foundation
import Logging

extension TokenKeyRing {
    /// The smallest RSA modulus accepted for a signing key (NIST SP 800-57 Part 1: 112-bit
    /// security through 2030), the size ``generate(_:activateIn:)`` makes.
    public static let minimumRSAModulusBits = 2048

    /// Imports an existing private key (one JWK with `d`, or an `oct` key with `k`) as this
    /// server's next signing key: published at once, it signs `delay` seconds from now (default
    /// ``Configuration/activationDelay``; at once on a ring where no key signs) and the current
    /// key then retires, as in ``rotate(activateIn:)``.
    ///
    /// For keys moved from another deployment or made with another tool. The JSON is a JWK or a
    /// JWK Set holding exactly one key; its algorithm is its `alg`, or `algorithm` (RSA and `oct`
    /// keys without `alg` need it), and must be one the ring signs with. A key without `kid` gets
    /// a random one. Refused, with nothing changed: public-only keys (import those with
    /// ``importVerificationKeys(jwkJSON:algorithm:)``); `use` other than `sig` or `key_ops`
    /// without `sign` (RFC 7517 sections 4.2-4.3); RSA moduli under
    /// ``minimumRSAModulusBits``; `oct` keys shorter than the hash output (RFC 7518 section 3.2:
    /// 32, 48 and 64 bytes for HS256, HS384, HS512); private members that do not match the
    /// public ones; a `kid` already in the ring.
    @discardableResult
    public func importSigningKey(
        jwkJSON data: Data,
        algorithm: TokenAlgorithm? = nil,
        activateIn delay: TimeInterval? = nil
    ) async throws(TokenKeyError) -> TokenKeyInfo {
        let jwks = try JSONWebKey.keys(fromJSON: data)
        guard jwks.count == 1, let jwk = jwks.first else {
            throw TokenKeyError(.invalidKey, "a signing key is imported on its own, but the JSON holds \(jwks.count) keys")
        }
        guard jwk.containsSecret else {
            throw TokenKeyError(.invalidKey, "\(jwk.label) has no private key (d, or k for oct); a public key can only be imported to verify")
        }
        if let use = jwk.use, use != "sig" {
            throw TokenKeyError(.invalidKey, "\(jwk.label) is marked use \(use), not sig")
        }
        if let keyOps = jwk.keyOps, !keyOps.contains("sign") {
            throw TokenKeyError(.invalidKey, "\(jwk.label) has key_ops without sign")
        }
        if let kid = jwk.kid {
            try Self.checkImportedKid(kid)
        }
        let resolved = try jwk.resolvedAlgorithm(requested: algorithm)
        guard resolved.canSign else {
            throw TokenKeyError(
                .unsupportedAlgorithm,
                "the ring signs with \(TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ", ")); \(resolved.name) keys can only be imported to verify"
            )
        }
        if resolved.keyType == .rsa {
            try Self.checkRSAModulus(of: jwk)
        }
        let material = try KeyMaterial(jwk: jwk, algorithm: resolved)
        guard material.secretBytes != nil else {
            throw TokenKeyError(.invalidKey, "\(jwk.label) has no usable private key")
        }
        let jwtAlgorithm = try await material.jwtAlgorithm(for: resolved)

        // No suspension below: the kid check and the schedule happen together.
        let kid = jwk.kid ?? unusedKid()
        guard !entries.contains(where: { $0.info.kid == kid }) else {
            throw TokenKeyError(.duplicateKid, "a key with kid \(kid) is already in the ring")
        }
        return schedule(kid: kid, algorithm: resolved, material: material, jwtAlgorithm: jwtAlgorithm, activateIn: delay, event: "imported")
    }

    /// A random kid no key in the ring has.
    private func unusedKid() -> String {
        var kid = SecureToken(byteCount: 16).text
        while entries.contains(where: { $0.info.kid == kid }) {
            kid = SecureToken(byteCount: 16).text
        }
        return kid
    }

    /// An imported `kid` goes into every token header and operator listing: 1-256 bytes of
    /// printable text.
    static func checkImportedKid(_ kid: String) throws(TokenKeyError) {
        guard !kid.isEmpty, kid.utf8.count <= 256,
            !kid.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw TokenKeyError(.invalidKey, "an imported kid must be 1 to 256 bytes of printable text")
        }
    }

    /// Refuses an RSA JWK whose modulus is shorter than ``minimumRSAModulusBits``.
    static func checkRSAModulus(of jwk: JSONWebKey) throws(TokenKeyError) {
        guard let n = jwk.n, let modulus = Base64URL.decodeCanonical(n) else {
            throw TokenKeyError(.invalidKey, "\(jwk.label) lacks a valid n member")
        }
        let significant = modulus.drop { $0 == 0 }
        let bits = significant.first.map { (significant.count - 1) * 8 + (8 - $0.leadingZeroBitCount) } ?? 0
        guard bits >= minimumRSAModulusBits else {
            throw TokenKeyError(.invalidKey, "\(jwk.label) has a \(bits)-bit RSA modulus; signing keys need at least \(minimumRSAModulusBits) bits")
        }
    }
}

import Crypto
import Foundation
import JWTKit
import _CryptoExtras

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

    /// The signature check, made once when the key is loaded; nil for keys that never verify.
    let signatureCheck: SignatureCheck?

    init(kid: String?, algorithm: TokenAlgorithm, signatureCheck: SignatureCheck) {
        self.kid = kid
        self.algorithm = algorithm
        self.unusableReason = nil
        self.signatureCheck = signatureCheck
    }

    init(kid: String?, unusableReason: String) {
        self.kid = kid
        self.algorithm = nil
        self.unusableReason = unusableReason
        self.signatureCheck = nil
    }

    /// True when the key verifies signatures.
    public var isUsable: Bool { signatureCheck != nil }

    public var description: String {
        let name = kid ?? "(no kid)"
        if let unusableReason { return "VerificationKey(\(name), unusable: \(unusableReason))" }
        return "VerificationKey(\(name), \(algorithm?.name ?? "?"))"
    }

    /// The key a JWK describes (public, private or `oct`), checked against its `use`/`key_ops`.
    ///
    /// - Parameters:
    ///   - jwk: the key.
    ///   - algorithm: the algorithm to bind; required for RSA and `oct` keys without `alg`.
    public static func make(jwk: JSONWebKey, algorithm: TokenAlgorithm? = nil) async throws(TokenKeyError) -> VerificationKey {
        guard jwk.allowsVerification else {
            return VerificationKey(kid: jwk.kid, unusableReason: "its use or key_ops does not allow verifying signatures")
        }
        let resolved = try jwk.resolvedAlgorithm(requested: algorithm)
        let material = try KeyMaterial(jwk: jwk, algorithm: resolved)
        let jwtAlgorithm = try await material.jwtAlgorithm(for: resolved)
        return VerificationKey(kid: jwk.kid, algorithm: resolved, signatureCheck: material.signatureCheck(for: resolved, jwtAlgorithm: jwtAlgorithm))
    }
}

/// How one key checks a signature: the swift-crypto public key (or HMAC key) and the hash and
/// padding of its one algorithm, called directly on the token's bytes, with no per-call
/// conversion.
enum SignatureCheck: Sendable {
    /// The hash an algorithm signs.
    enum Hash: Sendable {
        case sha256, sha384, sha512

        init(_ algorithm: TokenAlgorithm) {
            switch algorithm {
            case .rs384, .ps384, .es384, .hs384: self = .sha384
            case .rs512, .ps512, .es512, .hs512: self = .sha512
            default: self = .sha256
            }
        }
    }

    case ed25519(Curve25519.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)
    case p521(P521.Signing.PublicKey)
    /// RSASSA-PKCS1-v1_5 (`pss` false) or RSASSA-PSS with the hash's length of salt.
    case rsa(_RSA.Signing.PublicKey, pss: Bool, Hash)
    /// HMAC: swift-crypto's HMAC already keyed (the key's inner and outer pads hashed once, as
    /// `HMAC(key:)` does on every one-shot call); compared in constant time by swift-crypto.
    case hmacSHA256(HMAC<SHA256>)
    case hmacSHA384(HMAC<SHA384>)
    case hmacSHA512(HMAC<SHA512>)
    /// The jwt-kit object (only if a key could not be carried over; never expected).
    case jwtKit(any JWTAlgorithm)

    /// True when `signature` is a valid signature of `input`.
    func isValid(_ signature: UnsafeRawBufferPointer, for input: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .ed25519(let key):
            return key.isValidSignature(signature, for: input)
        case .p256(let key):
            guard let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: Self.hash(input, SHA256.self))
        case .p384(let key):
            guard let parsed = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: Self.hash(input, SHA384.self))
        case .p521(let key):
            guard let parsed = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: Self.hash(input, SHA512.self))
        case .rsa(let key, let pss, let hash):
            let parsed = _RSA.Signing.RSASignature(rawRepresentation: signature)
            let padding: _RSA.Signing.Padding = pss ? .PSS : .insecurePKCS1v1_5
            switch hash {
            case .sha256: return key.isValidSignature(parsed, for: Self.hash(input, SHA256.self), padding: padding)
            case .sha384: return key.isValidSignature(parsed, for: Self.hash(input, SHA384.self), padding: padding)
            case .sha512: return key.isValidSignature(parsed, for: Self.hash(input, SHA512.self), padding: padding)
            }
        case .hmacSHA256(let keyed):
            return Self.isValid(signature, for: input, keyed)
        case .hmacSHA384(let keyed):
            return Self.isValid(signature, for: input, keyed)
        case .hmacSHA512(let keyed):
            return Self.isValid(signature, for: input, keyed)
        case .jwtKit(let algorithm):
            return (try? algorithm.verify(signature, signs: input)) ?? false
        }
    }

    /// The HMAC of `input` with the keyed state `keyed`, compared in constant time (and
    /// length) with `signature` by swift-crypto.
    @inline(__always)
    private static func isValid<H: HashFunction>(_ signature: UnsafeRawBufferPointer, for input: UnsafeRawBufferPointer, _ keyed: HMAC<H>) -> Bool {
        var mac = keyed
        mac.update(data: input)
        return mac.finalize() == signature
    }

    /// The HMAC check for `algorithm` (HS256, HS384 or HS512) with `key`.
    static func hmac(_ key: SymmetricKey, _ algorithm: TokenAlgorithm) -> SignatureCheck {
        switch Hash(algorithm) {
        case .sha256: .hmacSHA256(HMAC(key: key))
        case .sha384: .hmacSHA384(HMAC(key: key))
        case .sha512: .hmacSHA512(HMAC(key: key))
        }
    }

    @inline(__always)
    private static func hash<H: HashFunction>(_ input: UnsafeRawBufferPointer, _: H.Type) -> H.Digest {
        var hasher = H()
        hasher.update(bufferPointer: input)
        return hasher.finalize()
    }
}

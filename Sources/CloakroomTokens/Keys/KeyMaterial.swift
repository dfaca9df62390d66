import CloakroomCore
import Crypto
import Foundation
import JWTKit
import _CryptoExtras

/// The key objects behind one ring or JWK key, held as jwt-kit / swift-crypto types.
///
/// Every primitive (generation, signing, verification, encoding of keys) is done by jwt-kit or
/// swift-crypto; this type only chooses which one and converts to and from JWK members.
enum KeyMaterial: Sendable {
    case ed25519Private(EdDSA.PrivateKey)
    case ed25519Public(EdDSA.PublicKey)
    case p256Private(ES256PrivateKey)
    case p256Public(ES256PublicKey)
    case p384Private(ES384PrivateKey)
    case p384Public(ES384PublicKey)
    case p521Private(ES512PrivateKey)
    case p521Public(ES512PublicKey)
    case rsaPrivate(JWTKit.Insecure.RSA.PrivateKey)
    case rsaPublic(JWTKit.Insecure.RSA.PublicKey)
    case symmetric(SymmetricKey)

    /// RSA modulus size for generated keys (NIST SP 800-57: 112-bit security through 2030).
    static let generatedRSABits = _RSA.Signing.KeySize.bits2048

    // MARK: Generation

    /// A fresh key for `algorithm`, from the system CSPRNG.
    static func generate(for algorithm: TokenAlgorithm) throws(TokenKeyError) -> KeyMaterial {
        do {
            switch algorithm {
            case .eddsa: return .ed25519Private(try EdDSA.PrivateKey(curve: .ed25519))
            case .es256: return .p256Private(ES256PrivateKey())
            case .es384: return .p384Private(ES384PrivateKey())
            case .rs256, .ps256:
                return .rsaPrivate(try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: generatedRSABits)))
            case .hs256: return .symmetric(SymmetricKey(size: .bits256))
            case .hs384: return .symmetric(SymmetricKey(size: .init(bitCount: 384)))
            case .hs512: return .symmetric(SymmetricKey(size: .init(bitCount: 512)))
            case .es512, .rs384, .rs512, .ps384, .ps512:
                throw TokenKeyError(.unsupportedAlgorithm, "keys for \(algorithm.name) are accepted for verification only, not generated")
            }
        } catch let error as TokenKeyError {
            throw error
        } catch {
            throw TokenKeyError(.invalidKey, "could not generate a \(algorithm.name) key")
        }
    }

    // MARK: Properties

    /// True when this key's type (and curve) is the one `algorithm` uses.
    func fits(_ algorithm: TokenAlgorithm) -> Bool {
        switch (self, algorithm) {
        case (.ed25519Private, .eddsa), (.ed25519Public, .eddsa),
            (.p256Private, .es256), (.p256Public, .es256),
            (.p384Private, .es384), (.p384Public, .es384),
            (.p521Private, .es512), (.p521Public, .es512),
            (.rsaPrivate, .rs256), (.rsaPrivate, .rs384), (.rsaPrivate, .rs512),
            (.rsaPrivate, .ps256), (.rsaPrivate, .ps384), (.rsaPrivate, .ps512),
            (.rsaPublic, .rs256), (.rsaPublic, .rs384), (.rsaPublic, .rs512),
            (.rsaPublic, .ps256), (.rsaPublic, .ps384), (.rsaPublic, .ps512):
            return true
        case (.symmetric(let key), _):
            guard let minimum = algorithm.minimumSymmetricKeyBytes else { return false }
            return key.bitCount >= minimum * 8
        default:
            return false
        }
    }

    /// The public half; nil for a symmetric key, which has none.
    var publicMaterial: KeyMaterial? {
        switch self {
        case .ed25519Private(let key): .ed25519Public(key.publicKey)
        case .p256Private(let key): .p256Public(key.publicKey)
        case .p384Private(let key): .p384Public(key.publicKey)
        case .p521Private(let key): .p521Public(key.publicKey)
        case .rsaPrivate(let key): .rsaPublic(key.publicKey)
        case .symmetric: nil
        default: self
        }
    }

    // MARK: jwt-kit algorithm

    /// The jwt-kit algorithm object that signs (private keys) and verifies with this key.
    func jwtAlgorithm(for algorithm: TokenAlgorithm) async throws(TokenKeyError) -> any JWTAlgorithm {
        guard fits(algorithm) else {
            throw TokenKeyError(.invalidKey, "this key cannot be used with \(algorithm.name)")
        }
        let kid = JWKIdentifier(string: "key")
        let collection = JWTKeyCollection()
        switch self {
        case .ed25519Private(let key): await collection.add(eddsa: key, kid: kid)
        case .ed25519Public(let key): await collection.add(eddsa: key, kid: kid)
        case .p256Private(let key): await collection.add(ecdsa: key, kid: kid)
        case .p256Public(let key): await collection.add(ecdsa: key, kid: kid)
        case .p384Private(let key): await collection.add(ecdsa: key, kid: kid)
        case .p384Public(let key): await collection.add(ecdsa: key, kid: kid)
        case .p521Private(let key): await collection.add(ecdsa: key, kid: kid)
        case .p521Public(let key): await collection.add(ecdsa: key, kid: kid)
        case .rsaPrivate(let key): await Self.addRSA(key, algorithm: algorithm, kid: kid, to: collection)
        case .rsaPublic(let key): await Self.addRSA(key, algorithm: algorithm, kid: kid, to: collection)
        case .symmetric(let key):
            await collection.add(hmac: HMACKey(key: key), digestAlgorithm: Self.digest(for: algorithm), kid: kid)
        }
        let made: any JWTAlgorithm
        do {
            made = try await collection.getKey(for: kid)
        } catch {
            throw TokenKeyError(.invalidKey, "jwt-kit refused the key for \(algorithm.name)")
        }
        guard made.name == algorithm.name else {
            throw TokenKeyError(.invalidKey, "jwt-kit made \(made.name) for \(algorithm.name)")
        }
        return made
    }

    /// The direct swift-crypto check for `algorithm` with this key (its public half), made once
    /// per key; `jwtAlgorithm` (from ``jwtAlgorithm(for:)``, which has checked that the key fits)
    /// is kept only in the unexpected case that the key does not carry over.
    func signatureCheck(for algorithm: TokenAlgorithm, jwtAlgorithm: any JWTAlgorithm) -> SignatureCheck {
        let hash = SignatureCheck.Hash(algorithm)
        let check: SignatureCheck?
        switch publicMaterial ?? self {
        case .ed25519Public(let key) where algorithm == .eddsa:
            check = (try? Curve25519.Signing.PublicKey(rawRepresentation: key.rawRepresentation)).map(SignatureCheck.ed25519)
        case .p256Public(let key) where algorithm == .es256:
            check = (try? P256.Signing.PublicKey(pemRepresentation: key.pemRepresentation)).map(SignatureCheck.p256)
        case .p384Public(let key) where algorithm == .es384:
            check = (try? P384.Signing.PublicKey(pemRepresentation: key.pemRepresentation)).map(SignatureCheck.p384)
        case .p521Public(let key) where algorithm == .es512:
            check = (try? P521.Signing.PublicKey(pemRepresentation: key.pemRepresentation)).map(SignatureCheck.p521)
        case .rsaPublic(let key) where algorithm.keyType == .rsa:
            let pss = [.ps256, .ps384, .ps512].contains(algorithm)
            check = (try? _RSA.Signing.PublicKey(derRepresentation: key.derRepresentation)).map { .rsa($0, pss: pss, hash) }
        case .symmetric(let key) where algorithm.isSymmetric && fits(algorithm):
            check = .hmac(key, algorithm)
        default:
            check = nil
        }
        return check ?? .jwtKit(jwtAlgorithm)
    }

    private static func addRSA(
        _ key: some RSAKey,
        algorithm: TokenAlgorithm,
        kid: JWKIdentifier,
        to collection: JWTKeyCollection
    ) async {
        switch algorithm {
        case .ps256, .ps384, .ps512:
            await collection.add(pss: key, digestAlgorithm: digest(for: algorithm), kid: kid)
        default:
            await collection.add(rsa: key, digestAlgorithm: digest(for: algorithm), kid: kid)
        }
    }

    private static func digest(for algorithm: TokenAlgorithm) -> DigestAlgorithm {
        switch algorithm {
        case .rs384, .ps384, .es384, .hs384: .sha384
        case .rs512, .ps512, .es512, .hs512: .sha512
        default: .sha256
        }
    }

    // MARK: At-rest form

    /// The secret's bytes for the key file: Ed25519 seed, PKCS#8 PEM (EC, RSA), raw (HMAC).
    /// Nil for public keys, which are stored as JWKs.
    var secretBytes: [UInt8]? {
        switch self {
        case .ed25519Private(let key): Array(key.rawRepresentation)
        case .p256Private(let key): Array(key.pemRepresentation.utf8)
        case .p384Private(let key): Array(key.pemRepresentation.utf8)
        case .p521Private(let key): Array(key.pemRepresentation.utf8)
        case .rsaPrivate(let key): Array(key.pemRepresentation.utf8)
        case .symmetric(let key): key.withUnsafeBytes { Array($0) }
        default: nil
        }
    }

    /// Reads `secretBytes` back for a key of `algorithm`.
    init(secretBytes bytes: [UInt8], algorithm: TokenAlgorithm) throws(TokenKeyError) {
        do {
            switch algorithm.keyType {
            case .okp:
                self = .ed25519Private(EdDSA.PrivateKey(backing: try Curve25519.Signing.PrivateKey(rawRepresentation: bytes)))
            case .ec:
                let pem = String(decoding: bytes, as: UTF8.self)
                switch algorithm {
                case .es256: self = .p256Private(try ES256PrivateKey(pem: pem))
                case .es384: self = .p384Private(try ES384PrivateKey(pem: pem))
                default: self = .p521Private(try ES512PrivateKey(pem: pem))
                }
            case .rsa:
                self = .rsaPrivate(try JWTKit.Insecure.RSA.PrivateKey(pem: String(decoding: bytes, as: UTF8.self)))
            case .oct:
                self = .symmetric(SymmetricKey(data: bytes))
            }
        } catch {
            throw TokenKeyError(.corruptFile, "a stored \(algorithm.name) key cannot be read")
        }
        guard fits(algorithm) else {
            throw TokenKeyError(.corruptFile, "a stored key does not fit \(algorithm.name)")
        }
    }

    // MARK: JWK

    /// The public JWK (no private members); nil for symmetric keys.
    func publicJWK(kid: String?, algorithm: TokenAlgorithm) -> JSONWebKey? {
        guard let material = publicMaterial else { return nil }
        var jwk = JSONWebKey(kty: algorithm.keyType.rawValue)
        jwk.kid = kid
        jwk.alg = algorithm.name
        jwk.use = "sig"
        switch material {
        case .ed25519Public(let key):
            jwk.crv = "Ed25519"
            jwk.x = Base64URL.encode(key.rawRepresentation)
        case .p256Public(let key): Self.setCoordinates(key.parameters, crv: "P-256", on: &jwk)
        case .p384Public(let key): Self.setCoordinates(key.parameters, crv: "P-384", on: &jwk)
        case .p521Public(let key): Self.setCoordinates(key.parameters, crv: "P-521", on: &jwk)
        case .rsaPublic(let key):
            guard let primitives = try? key.getKeyPrimitives() else { return nil }
            jwk.n = Base64URL.encode(primitives.modulus.drop { $0 == 0 })
            jwk.e = Base64URL.encode(primitives.publicExponent.drop { $0 == 0 })
        default:
            return nil
        }
        return jwk
    }

    private static func setCoordinates(_ parameters: ECDSAParameters?, crv: String, on jwk: inout JSONWebKey) {
        jwk.crv = crv
        jwk.x = parameters.map { unpadded($0.x) }
        jwk.y = parameters.map { unpadded($0.y) }
    }

    private static func unpadded(_ text: String) -> String {
        text.replacingOccurrences(of: "=", with: "")
    }

    /// The key a JWK describes, for use with `algorithm`; private members are used when present,
    /// and must agree with the public ones.
    init(jwk: JSONWebKey, algorithm: TokenAlgorithm) throws(TokenKeyError) {
        func bytes(_ member: String?, _ name: String) throws(TokenKeyError) -> [UInt8] {
            guard let member else { throw TokenKeyError(.invalidKey, "\(jwk.label) lacks the \(name) member") }
            guard let decoded = Base64URL.decodeCanonical(member), !decoded.isEmpty else {
                throw TokenKeyError(.invalidKey, "\(jwk.label) has a \(name) member that is not unpadded base64url")
            }
            return decoded
        }
        let material: KeyMaterial
        do {
            switch algorithm.keyType {
            case .okp:
                let x = try bytes(jwk.x, "x")
                let publicKey = EdDSA.PublicKey(backing: try Curve25519.Signing.PublicKey(rawRepresentation: x))
                if jwk.d != nil {
                    let privateKey = EdDSA.PrivateKey(backing: try Curve25519.Signing.PrivateKey(rawRepresentation: try bytes(jwk.d, "d")))
                    guard privateKey.publicKey == publicKey else { throw Self.mismatch(jwk) }
                    material = .ed25519Private(privateKey)
                } else {
                    material = .ed25519Public(publicKey)
                }
            case .ec:
                let x = try bytes(jwk.x, "x")
                let y = try bytes(jwk.y, "y")
                let size = algorithm == .es256 ? 32 : algorithm == .es384 ? 48 : 66
                guard x.count == size, y.count == size else {
                    throw TokenKeyError(.invalidKey, "\(jwk.label) has coordinates of the wrong length for \(algorithm.curve ?? "")")
                }
                let point = [0x04] + x + y
                let d = jwk.d == nil ? nil : try bytes(jwk.d, "d")
                switch algorithm {
                case .es256:
                    let publicKey = try ES256PublicKey(backing: try P256.Signing.PublicKey(x963Representation: point))
                    if let d {
                        let privateKey = try ES256PrivateKey(backing: try P256.Signing.PrivateKey(rawRepresentation: d))
                        guard privateKey.publicKey == publicKey else { throw Self.mismatch(jwk) }
                        material = .p256Private(privateKey)
                    } else {
                        material = .p256Public(publicKey)
                    }
                case .es384:
                    let publicKey = try ES384PublicKey(backing: try P384.Signing.PublicKey(x963Representation: point))
                    if let d {
                        let privateKey = try ES384PrivateKey(backing: try P384.Signing.PrivateKey(rawRepresentation: d))
                        guard privateKey.publicKey == publicKey else { throw Self.mismatch(jwk) }
                        material = .p384Private(privateKey)
                    } else {
                        material = .p384Public(publicKey)
                    }
                default:
                    let publicKey = try ES512PublicKey(backing: try P521.Signing.PublicKey(x963Representation: point))
                    if let d {
                        let privateKey = try ES512PrivateKey(backing: try P521.Signing.PrivateKey(rawRepresentation: d))
                        guard privateKey.publicKey == publicKey else { throw Self.mismatch(jwk) }
                        material = .p521Private(privateKey)
                    } else {
                        material = .p521Public(publicKey)
                    }
                }
            case .rsa:
                let n = try bytes(jwk.n, "n")
                let e = try bytes(jwk.e, "e")
                let publicKey = try JWTKit.Insecure.RSA.PublicKey(backing: try _RSA.Signing.PublicKey(n: n, e: e))
                if jwk.d != nil {
                    let d = try bytes(jwk.d, "d")
                    let backing: _RSA.Signing.PrivateKey
                    if jwk.p != nil || jwk.q != nil {
                        backing = try _RSA.Signing.PrivateKey(n: n, e: e, d: d, p: try bytes(jwk.p, "p"), q: try bytes(jwk.q, "q"))
                    } else {
                        backing = try _RSA.Signing.PrivateKey._createFromNumbers(n: n, e: e, d: d)
                    }
                    let privateKey = try JWTKit.Insecure.RSA.PrivateKey(backing: backing)
                    guard privateKey.publicKey == publicKey else { throw Self.mismatch(jwk) }
                    material = .rsaPrivate(privateKey)
                } else {
                    material = .rsaPublic(publicKey)
                }
            case .oct:
                material = .symmetric(SymmetricKey(data: try bytes(jwk.k, "k")))
            }
        } catch let error as TokenKeyError {
            throw error
        } catch {
            throw TokenKeyError(
                .invalidKey,
                "\(jwk.label) is not a valid \(algorithm.keyType.rawValue) key for \(algorithm.name) (RSA keys need at least 2048 bits)"
            )
        }
        guard material.fits(algorithm) else {
            if let minimum = algorithm.minimumSymmetricKeyBytes {
                throw TokenKeyError(.invalidKey, "\(jwk.label) is shorter than the \(minimum) bytes \(algorithm.name) needs")
            }
            throw TokenKeyError(.invalidKey, "\(jwk.label) cannot be used with \(algorithm.name)")
        }
        self = material
    }

    private static func mismatch(_ jwk: JSONWebKey) -> TokenKeyError {
        TokenKeyError(.invalidKey, "\(jwk.label) has private members that do not match its public members")
    }
}

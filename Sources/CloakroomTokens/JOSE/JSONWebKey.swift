public import Foundation

/// A JSON Web Key (RFC 7517) as read from or written to JSON: every member the key types
/// Cloakroom handles (`OKP`, `EC`, `RSA`, `oct`) may carry.
///
/// `description` never prints key material, so a key can be logged by mistake without leaking.
public struct JSONWebKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Key type: `OKP`, `EC`, `RSA` or `oct`.
    public var kty: String
    /// Key ID.
    public var kid: String?
    /// The algorithm the key is meant for.
    public var alg: String?
    /// Intended use: `sig` or `enc` (RFC 7517 section 4.2).
    public var use: String?
    /// Permitted operations, e.g. `["verify"]` (RFC 7517 section 4.3).
    public var keyOps: [String]?
    /// Curve (`OKP`, `EC`).
    public var crv: String?
    /// Public coordinate (`OKP`, `EC`).
    public var x: String?
    /// Public coordinate (`EC`).
    public var y: String?
    /// Private key (`OKP`, `EC`) or private exponent (`RSA`).
    public var d: String?
    /// RSA modulus.
    public var n: String?
    /// RSA public exponent.
    public var e: String?
    /// RSA first prime.
    public var p: String?
    /// RSA second prime.
    public var q: String?
    /// RSA first factor CRT exponent.
    public var dp: String?
    /// RSA second factor CRT exponent.
    public var dq: String?
    /// RSA first CRT coefficient.
    public var qi: String?
    /// Symmetric key value (`oct`).
    public var k: String?

    enum CodingKeys: String, CodingKey {
        case kty, kid, alg, use
        case keyOps = "key_ops"
        case crv, x, y, d, n, e, p, q, dp, dq, qi, k
    }

    /// A key with only `kty` set; fill the other members as needed.
    public init(kty: String) {
        self.kty = kty
    }

    /// True when the key holds private or symmetric material (`d` or `k`).
    public var containsSecret: Bool { d != nil || k != nil }

    /// True unless `use` says another use than `sig` or `key_ops` lacks `verify`.
    public var allowsVerification: Bool {
        if let use, use != "sig" { return false }
        if let keyOps, !keyOps.contains("verify") { return false }
        return true
    }

    /// The key without its private members: what may be published.
    public var publicKey: JSONWebKey {
        var copy = self
        copy.d = nil
        copy.p = nil
        copy.q = nil
        copy.dp = nil
        copy.dq = nil
        copy.qi = nil
        copy.k = nil
        return copy
    }

    public var description: String {
        var parts = ["kty: \(kty)"]
        if let kid { parts.append("kid: \(kid)") }
        if let alg { parts.append("alg: \(alg)") }
        if let crv { parts.append("crv: \(crv)") }
        if containsSecret { parts.append("secret: redacted") }
        return "JSONWebKey(\(parts.joined(separator: ", ")))"
    }

    /// Reads JWK JSON: either a JWK Set (`{"keys": [...]}`) or a single JWK.
    public static func keys(fromJSON data: Data) throws(TokenKeyError) -> [JSONWebKey] {
        let decoder = JSONDecoder()
        if let set = try? decoder.decode(KeySet.self, from: data) {
            return set.keys
        }
        do {
            return [try decoder.decode(JSONWebKey.self, from: data)]
        } catch {
            throw TokenKeyError(.invalidKey, "the JSON is neither a JWK Set nor a JWK")
        }
    }

    /// The algorithm the key is used with: `requested`, else its `alg`, else the only one its
    /// type and curve allow. RSA and `oct` keys without `alg` need `requested`.
    func resolvedAlgorithm(requested: TokenAlgorithm?) throws(TokenKeyError) -> TokenAlgorithm {
        var declared: TokenAlgorithm?
        if let alg {
            guard let known = TokenAlgorithm(name: alg) else {
                throw TokenKeyError(.unsupportedAlgorithm, "\(label) declares alg \(alg), which is not a supported signature algorithm")
            }
            declared = known
        }
        if let requested, let declared, requested != declared {
            throw TokenKeyError(.invalidKey, "\(label) declares alg \(declared.name) but \(requested.name) was requested")
        }
        let algorithm: TokenAlgorithm
        if let chosen = requested ?? declared {
            algorithm = chosen
        } else {
            switch (kty, crv) {
            case ("OKP", "Ed25519"): algorithm = .eddsa
            case ("EC", "P-256"): algorithm = .es256
            case ("EC", "P-384"): algorithm = .es384
            case ("EC", "P-521"): algorithm = .es512
            default:
                throw TokenKeyError(.invalidKey, "\(label) has no alg and its key type fits several algorithms: name one")
            }
        }
        guard algorithm.keyType.rawValue == kty else {
            throw TokenKeyError(.invalidKey, "\(label) has kty \(kty), which cannot be used with \(algorithm.name)")
        }
        if let curve = algorithm.curve, crv != curve {
            throw TokenKeyError(.invalidKey, "\(label) has curve \(crv ?? "(none)"), but \(algorithm.name) needs \(curve)")
        }
        return algorithm
    }

    /// "the JWK" or "the JWK with kid K", for messages.
    var label: String {
        kid.map { "the JWK with kid \($0)" } ?? "the JWK"
    }

    private struct KeySet: Decodable {
        let keys: [JSONWebKey]
    }
}

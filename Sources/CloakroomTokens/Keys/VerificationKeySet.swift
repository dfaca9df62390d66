public import Foundation

/// Verification keys read from a JWK or JWK Set, e.g. for `cloakroom token verify --jwks FILE`.
///
/// Accepts public, private and symmetric (`oct`) keys; only their verifying half is used. A key
/// marked `use: enc`, or whose `key_ops` lacks `verify`, is kept but never verifies. Within a
/// set, a key that cannot be read (unsupported curve or algorithm, weak key) is kept as unusable
/// with its reason rather than failing the whole set; a single JWK that cannot be read throws.
public struct VerificationKeySet: VerificationKeySource, ImmediateVerificationKeySource {
    /// The keys, in file order.
    public let keys: [VerificationKey]

    /// Keys built elsewhere; `kid`s must be distinct.
    public init(keys: [VerificationKey]) throws(TokenKeyError) {
        var seen = Set<String>()
        for kid in keys.compactMap(\.kid) where !seen.insert(kid).inserted {
            throw TokenKeyError(.duplicateKid, "two keys have kid \(kid)")
        }
        self.keys = keys
    }

    /// Reads a JWK Set (`{"keys": [...]}`) or a single JWK.
    ///
    /// - Parameters:
    ///   - data: the JSON text of the set or the key.
    ///   - algorithm: binds keys that carry no `alg` (needed for RSA and `oct`); a key
    ///     whose `alg` differs from it is refused.
    public static func load(jwkJSON data: Data, algorithm: TokenAlgorithm? = nil) async throws(TokenKeyError) -> VerificationKeySet {
        let jwks = try JSONWebKey.keys(fromJSON: data)
        var keys: [VerificationKey] = []
        if jwks.count == 1 {
            keys.append(try await VerificationKey.make(jwk: jwks[0], algorithm: algorithm))
        } else {
            for jwk in jwks {
                do {
                    keys.append(try await VerificationKey.make(jwk: jwk, algorithm: algorithm))
                } catch {
                    keys.append(VerificationKey(kid: jwk.kid, unusableReason: error.message))
                }
            }
        }
        return try VerificationKeySet(keys: keys)
    }

    /// Reads a JWK or JWK Set file.
    public static func load(contentsOf url: URL, algorithm: TokenAlgorithm? = nil) async throws(TokenKeyError) -> VerificationKeySet {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenKeyError(.fileAccess, "cannot read \(url.path)")
        }
        return try await load(jwkJSON: data, algorithm: algorithm)
    }

    /// The key named `kid`; with no `kid`, the only key of a one-key set.
    public func verificationKey(kid: String?, at now: Date) async -> VerificationKey? {
        immediateVerificationKey(kid: kid.map(HeaderText.string), at: now)
    }

    func immediateVerificationKey(kid: HeaderText?, at now: Date) -> VerificationKey? {
        guard let kid else { return keys.count == 1 ? keys[0] : nil }
        return keys.first { key in key.kid.map(kid.equals) ?? false }
    }
}

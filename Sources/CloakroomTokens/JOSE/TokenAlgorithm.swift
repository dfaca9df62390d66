/// A JWS signature algorithm (RFC 7518 section 3, RFC 8037 for EdDSA), fixed per key.
///
/// A key is configured with exactly one algorithm and a token is accepted only when its `alg`
/// header names that algorithm (RFC 8725 section 3.1): the header never chooses the algorithm.
public enum TokenAlgorithm: String, Sendable, Hashable, CaseIterable, Codable {
    /// Ed25519 (RFC 8037). The default for new keys: small, fast, deterministic.
    case eddsa = "EdDSA"
    /// ECDSA on P-256 with SHA-256.
    case es256 = "ES256"
    /// ECDSA on P-384 with SHA-384.
    case es384 = "ES384"
    /// ECDSA on P-521 with SHA-512 (verification of imported keys only).
    case es512 = "ES512"
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    case rs256 = "RS256"
    /// RSASSA-PKCS1-v1_5 with SHA-384 (verification of imported keys only).
    case rs384 = "RS384"
    /// RSASSA-PKCS1-v1_5 with SHA-512 (verification of imported keys only).
    case rs512 = "RS512"
    /// RSASSA-PSS with SHA-256.
    case ps256 = "PS256"
    /// RSASSA-PSS with SHA-384 (verification of imported keys only).
    case ps384 = "PS384"
    /// RSASSA-PSS with SHA-512 (verification of imported keys only).
    case ps512 = "PS512"
    /// HMAC with SHA-256 (symmetric: never published in a JWKS).
    case hs256 = "HS256"
    /// HMAC with SHA-384 (symmetric: never published in a JWKS).
    case hs384 = "HS384"
    /// HMAC with SHA-512 (symmetric: never published in a JWKS).
    case hs512 = "HS512"

    /// The JWK key type (`kty`) a key for this algorithm has.
    public enum KeyType: String, Sendable, Hashable {
        /// Octet key pair (Ed25519).
        case okp = "OKP"
        /// Elliptic curve.
        case ec = "EC"
        /// RSA.
        case rsa = "RSA"
        /// Symmetric octet sequence.
        case oct = "oct"
    }

    /// The algorithms the key ring can generate keys for and sign with.
    public static let signingAlgorithms: [TokenAlgorithm] = [
        .eddsa, .es256, .es384, .rs256, .ps256, .hs256, .hs384, .hs512,
    ]

    /// The JOSE name, as written in the `alg` header and JWK member.
    public var name: String { rawValue }

    /// The algorithm called `name` in any case (`es256` is ES256), or nil.
    public static func named(_ name: String) -> TokenAlgorithm? {
        allCases.first { $0.rawValue.lowercased() == name.lowercased() }
    }

    /// The key type this algorithm needs.
    public var keyType: KeyType {
        switch self {
        case .eddsa: .okp
        case .es256, .es384, .es512: .ec
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512: .rsa
        case .hs256, .hs384, .hs512: .oct
        }
    }

    /// True when the ring can generate a key for this algorithm and sign with it.
    public var canSign: Bool { Self.signingAlgorithms.contains(self) }

    /// True for the HMAC algorithms, whose keys are secrets and never appear in a JWKS.
    public var isSymmetric: Bool { keyType == .oct }

    /// The JWK curve (`crv`) for EC and OKP algorithms.
    public var curve: String? {
        switch self {
        case .eddsa: "Ed25519"
        case .es256: "P-256"
        case .es384: "P-384"
        case .es512: "P-521"
        default: nil
        }
    }

    /// For HMAC: the smallest key, in bytes, RFC 7518 section 3.2 allows (the hash output size).
    public var minimumSymmetricKeyBytes: Int? {
        switch self {
        case .hs256: 32
        case .hs384: 48
        case .hs512: 64
        default: nil
        }
    }

    /// The algorithm named exactly `name` (case-sensitive, as RFC 7515 requires); nil otherwise.
    public init?(name: String) {
        self.init(rawValue: name)
    }

    /// The algorithm whose name is exactly the ASCII `bytes`; the same answer as
    /// ``init(name:)`` for the string they spell, without making it.
    init?(ascii bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count == 5, let base = bytes.baseAddress else {
            return nil  // every name is five characters
        }
        var key: UInt64 = 0
        for index in 0..<5 { key |= UInt64(base[index]) << UInt64(index * 8) }
        guard let index = Self.packedNames.firstIndex(of: key) else { return nil }
        self = Self.allCases[index]
    }

    /// Each name's five bytes, little-endian in a word, in `allCases` order.
    private static let packedNames: [UInt64] = allCases.map { algorithm in
        algorithm.rawValue.utf8.enumerated().reduce(0) { $0 | UInt64($1.element) << UInt64($1.offset * 8) }
    }
}

import Foundation

/// What the key ring says about one key; never key material.
public struct TokenKeyInfo: Sendable, Hashable, CustomStringConvertible {
    /// The key ID: random base64url for generated keys, as given for imported ones.
    public let kid: String
    /// The one algorithm the key signs or verifies with.
    public let algorithm: TokenAlgorithm
    /// When the key was generated or imported.
    public let createdAt: Date
    /// What the key may do now.
    public var state: TokenKeyState

    /// Creates key information.
    public init(kid: String, algorithm: TokenAlgorithm, createdAt: Date, state: TokenKeyState) {
        self.kid = kid
        self.algorithm = algorithm
        self.createdAt = createdAt
        self.state = state
    }

    /// True when the key verifies signatures at `now`.
    public func verifies(at now: Date) -> Bool {
        switch state {
        case .active, .external: true
        case .retired(let until): now < until
        }
    }

    public var description: String {
        "\(kid) \(algorithm.name) created \(createdAt) \(state)"
    }
}

/// The life of a key in the ring.
///
/// `active` signs new tokens (one key at a time) and verifies. `retired` only verifies, until
/// every token it signed has expired; then ``TokenKeyRing/prune(now:)`` removes it, and tokens
/// naming it are refused as `unknown_kid`. `external` is another issuer's public key: it
/// verifies until removed and is never published in this server's JWKS.
public enum TokenKeyState: Sendable, Hashable, CustomStringConvertible {
    /// Signs and verifies.
    case active
    /// Verifies until the date; removed by `prune` after it.
    case retired(verifyUntil: Date)
    /// An imported public key: verifies only, never signs, not published.
    case external

    public var description: String {
        switch self {
        case .active: "active"
        case .retired(let until): "retired (verifies until \(until))"
        case .external: "external (verify only)"
        }
    }
}

public import Foundation

/// What the key ring says about one key; never key material.
public struct TokenKeyInfo: Sendable, Hashable, CustomStringConvertible {
    /// The key ID: random base64url for generated keys, as given for imported ones.
    public let kid: String
    /// The one algorithm the key signs or verifies with.
    public let algorithm: TokenAlgorithm
    /// When the key was generated or imported.
    public let createdAt: Date
    /// The key's schedule: what it may do, and from and until when.
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
        state.verifies(at: now)
    }

    /// True when the key signs new tokens at `now`.
    public func signs(at now: Date) -> Bool {
        state.signs(at: now)
    }

    public var description: String {
        "\(kid) \(algorithm.name) created \(createdAt) \(state)"
    }
}

/// The life of a key in the ring.
///
/// A key signs during one period and verifies from the moment it is published until every
/// token it signed has expired. `next` is published (in the JWKS, and verifying) before it
/// signs, so that verifiers caching the JWK Set already hold it when the first token naming it
/// arrives. At its activation time it signs, and the key that signed before (`retiring`) stops;
/// each server switches by its own clock, with no reload. `retired` only verifies, until every
/// token it signed has expired; then ``TokenKeyRing/prune(now:)`` removes it, and tokens
/// naming it are refused as `unknown_kid`. `external` is another issuer's public key: it
/// verifies until removed and is never published in this server's JWKS.
///
/// A state is a schedule, not a snapshot: ``resolved(at:)`` gives what it is at a time
/// (`next` becomes `active` at its activation time, `retiring` becomes `retired`).
public enum TokenKeyState: Sendable, Hashable, CustomStringConvertible {
    /// Signs and verifies; no end is scheduled.
    case active
    /// Published and verifying now; signs from `activatesAt` (and the `retiring` key stops).
    case next(activatesAt: Date)
    /// Signs until `signsUntil` (a `next` key's activation), then verifies only, until
    /// `verifyUntil`.
    case retiring(signsUntil: Date, verifyUntil: Date)
    /// Verifies until the date; removed by `prune` after it.
    case retired(verifyUntil: Date)
    /// An imported public key: verifies only, never signs, not published.
    case external

    /// The state at `now`: a `next` key whose time has come is `active`, a `retiring` one
    /// whose signing period has ended is `retired`.
    public func resolved(at now: Date) -> TokenKeyState {
        switch self {
        case .next(let activation) where activation <= now: .active
        case .retiring(let end, let until) where end <= now: .retired(verifyUntil: until)
        default: self
        }
    }

    /// True for ``next(activatesAt:)``: published ahead of its activation.
    public var isNext: Bool {
        if case .next = self { true } else { false }
    }

    /// True when a key in this state signs new tokens at `now`.
    public func signs(at now: Date) -> Bool {
        switch self {
        case .active: true
        case .next(let activation): activation <= now
        case .retiring(let end, _): now < end
        case .retired, .external: false
        }
    }

    /// True when a key in this state verifies signatures at `now`.
    public func verifies(at now: Date) -> Bool {
        switch self {
        case .active, .next, .external: true
        case .retiring(_, let until), .retired(let until): now < until
        }
    }

    public var description: String {
        switch self {
        case .active: "active"
        case .next(let activation): "next (activates at \(activation))"
        case .retiring(let end, let until): "active until \(end) (then verifies until \(until))"
        case .retired(let until): "retired (verifies until \(until))"
        case .external: "external (verify only)"
        }
    }
}

public import Foundation

/// A JWS whose signature verified with a configured key. The payload is authentic but has not
/// been read as a claim set (no expiry, issuer or audience check).
public struct VerifiedJWS: Sendable, Hashable {
    /// The `kid` header, if any.
    public let kid: String?
    /// The algorithm the signature was checked with (the key's, equal to the header's).
    public let algorithm: TokenAlgorithm
    /// The protected header's JSON text.
    public let headerJSON: String
    /// The payload bytes.
    public let payload: Data
}

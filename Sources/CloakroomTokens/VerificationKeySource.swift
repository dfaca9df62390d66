import Foundation

/// Where a verifier finds the key a token's `kid` names.
public protocol VerificationKeySource: Sendable {
    /// The key named `kid` that may verify signatures at `now`; nil when there is none.
    /// A nil `kid` (no `kid` header) may be answered only by a source with a single key.
    func verificationKey(kid: String?, at now: Date) async -> VerificationKey?
}

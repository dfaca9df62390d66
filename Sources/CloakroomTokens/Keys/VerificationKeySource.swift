public import Foundation

/// Where a verifier finds the key a token's `kid` names.
public protocol VerificationKeySource: Sendable {
    /// The key named `kid` that may verify signatures at `now`; nil when there is none.
    /// A nil `kid` (no `kid` header) may be answered only by a source with a single key.
    func verificationKey(kid: String?, at now: Date) async -> VerificationKey?
}

/// A source that answers ``VerificationKeySource/verificationKey(kid:at:)`` without suspending,
/// with the same answer: the verifier asks it synchronously (no actor hop per token).
protocol ImmediateVerificationKeySource: VerificationKeySource {
    /// The same answer as ``VerificationKeySource/verificationKey(kid:at:)`` for the `kid`
    /// `kid` spells (`String` equality), now.
    func immediateVerificationKey(kid: HeaderText?, at now: Date) -> VerificationKey?
}

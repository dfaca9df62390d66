/// Why a sealed value was refused, or could not be made; each reason its own, so logs and tests
/// tell a tampered value from an expired one.
public struct SealError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable {
        /// Not in the sealed format at all.
        case malformed
        /// Sealed under a key ID this ring does not hold (removed after a rotation, or foreign).
        case unknownKey = "unknown_key"
        /// Sealed for another name (another cookie): a value cannot be moved between names.
        case wrongName = "wrong_name"
        /// Its authentication failed: altered, or not sealed by us.
        case tampered
        /// Authentic, but past the expiry sealed inside it.
        case expired
        /// The sealed value (with its name) exceeds the size allowed.
        case tooLarge = "too_large"
        /// A key or key ID that cannot be used.
        case invalidKey = "invalid_key"
    }

    public let reason: Reason
    public let message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason.rawValue): \(message)" }
}

import Crypto
import Foundation

/// A secret drawn from the system CSPRNG, shown to clients as unpadded base64url.
///
/// 32 bytes (256 bits) by default: OWASP's Session Management Cheat Sheet asks for at least
/// 64 bits of entropy; 256 leaves no room for guessing or birthday collisions at any scale.
public struct SecureToken: Sendable, Hashable, CustomStringConvertible {
    /// The base64url text the client holds.
    public let text: String

    /// Draws `byteCount` random bytes from `SystemRandomNumberGenerator` (getrandom(2) on Linux).
    public init(byteCount: Int = 32) {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: byteCount)
        // Eight bytes per draw (one getrandom(2) call each), not one call per byte.
        var index = 0
        while index < byteCount {
            var word = generator.next() as UInt64
            for _ in 0..<min(8, byteCount - index) {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        self.text = Base64URL.encode(bytes)
    }

    /// Wraps text received from a client, if it has the shape of a token of `byteCount` bytes.
    public init?(validating text: String, byteCount: Int = 32) {
        guard text.utf8.count == Base64URL.encodedLength(of: byteCount),
            let decoded = Base64URL.decode(text), decoded.count == byteCount
        else { return nil }
        self.text = text
    }

    /// The at-rest form: lowercase hex SHA-256 of the token text. A leaked store leaks no live token.
    public var hashed: String { Self.hash(text) }

    /// Lowercase hex SHA-256 of `text`.
    public static func hash(_ text: String) -> String {
        Hex.encode(SHA256.hash(data: Array(text.utf8)))
    }

    /// Never prints the secret.
    public var description: String { "SecureToken(redacted)" }
}

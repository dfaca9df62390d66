import Crypto
import Foundation

/// A secret drawn from the system CSPRNG, shown to clients as unpadded base64url.
///
/// 32 bytes (256 bits) by default: OWASP's Session Management Cheat Sheet asks for at least
/// 64 bits of entropy; 256 leaves no room for guessing or birthday collisions at any scale.
public struct SecureToken: Sendable, Hashable, CustomStringConvertible {
    /// The text the client holds: base64url, after `tag.` when the token carries a tag.
    public let text: String

    /// The placement tag the token carries (see `KeyTag`); nil for a plain token.
    public let tag: KeyTag?

    /// Draws `byteCount` random bytes from `SystemRandomNumberGenerator` (getrandom(2) on Linux);
    /// with a `tag`, the text is `tag.` then those bytes, and `hashed` starts with the tag.
    public init(byteCount: Int = 32, tag: KeyTag? = nil) {
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
        self.tag = tag
        self.text = tag.map { $0.prefixing(Base64URL.encode(bytes)) } ?? Base64URL.encode(bytes)
    }

    /// Wraps text received from a client, if it has the shape of a token of `byteCount` bytes,
    /// plain or tagged (`tag.` in front).
    public init?(validating text: String, byteCount: Int = 32) {
        let length = Base64URL.encodedLength(of: byteCount)
        var random = Substring(text)
        var tag: KeyTag?
        if text.utf8.count == length + 5 {
            guard let carried = KeyTag(taggedText: text) else { return nil }
            tag = carried
            random = text.dropFirst(5)
        }
        guard random.utf8.count == length,
            let decoded = Base64URL.decode(String(random)), decoded.count == byteCount
        else { return nil }
        self.text = text
        self.tag = tag
    }

    /// The at-rest form: lowercase hex SHA-256 of the token text (its first four digits replaced by
    /// the tag when it carries one). A leaked store leaks no live token.
    public var hashed: String {
        guard let tag else { return Self.hash(text) }
        return tag.hex + Self.hash(text).dropFirst(4)
    }

    /// Lowercase hex SHA-256 of `text`.
    public static func hash(_ text: String) -> String {
        Hex.encode(SHA256.hash(data: Array(text.utf8)))
    }

    /// Never prints the secret.
    public var description: String { "SecureToken(redacted)" }
}

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

/// Unpadded base64url (RFC 4648 section 5).
public enum Base64URL {
    /// Encodes bytes without padding.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return alphabet.withUTF8Buffer { table in
            String(unsafeUninitializedCapacity: encodedLength(of: input.count)) { out in
                var o = 0
                var i = 0
                while i + 3 <= input.count {
                    let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                    out[o] = table[Int(n >> 18 & 63)]
                    out[o + 1] = table[Int(n >> 12 & 63)]
                    out[o + 2] = table[Int(n >> 6 & 63)]
                    out[o + 3] = table[Int(n & 63)]
                    o += 4
                    i += 3
                }
                let rest = input.count - i
                if rest > 0 {
                    let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
                    out[o] = table[Int(n >> 18 & 63)]
                    out[o + 1] = table[Int(n >> 12 & 63)]
                    o += 2
                    if rest == 2 {
                        out[o] = table[Int(n >> 6 & 63)]
                        o += 1
                    }
                }
                return o
            }
        }
    }

    /// Decodes unpadded (or padded) base64url; nil for any other character.
    public static func decode(_ text: String) -> [UInt8]? {
        var base64 = ""
        base64.reserveCapacity(text.utf8.count + 3)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "-": base64.append("+")
            case "_": base64.append("/")
            case "A"..."Z", "a"..."z", "0"..."9", "=": base64.unicodeScalars.append(scalar)
            default: return nil
            }
        }
        while base64.utf8.count % 4 != 0 { base64.append("=") }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return Array(data)
    }

    /// Length of the unpadded encoding of `byteCount` bytes.
    public static func encodedLength(of byteCount: Int) -> Int {
        (byteCount * 4 + 2) / 3
    }
}

/// Lowercase hexadecimal.
public enum Hex {
    /// Encodes bytes as lowercase hex.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

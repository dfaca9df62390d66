/// A SHA-256 digest held as four words (32 bytes inline) instead of 64 hex characters.
///
/// Ordered like its lowercase hex form: the words are big-endian chunks of the hex text, and hex
/// digits sort in the order of their values, so `<` on keys is `<` on their strings.
/// `package` so that stores keeping keys as bytes (Redis) parse and print them with this one type.
package struct HashedKey: Hashable, Comparable, Sendable {
    let a: UInt64, b: UInt64, c: UInt64, d: UInt64

    /// Parses 64 lowercase hex digits; nil for anything else.
    package init?(_ hex: String) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var word: UInt64 = 0
        var digits = 0
        for char in hex.utf8 {
            guard digits < 64 else { return nil }
            let nibble: UInt8
            switch char {
            case 48...57: nibble = char - 48
            case 97...102: nibble = char - 87
            default: return nil
            }
            word = word << 4 | UInt64(nibble)
            digits += 1
            switch digits {
            case 16: words.0 = word
            case 32: words.1 = word
            case 48: words.2 = word
            case 64: words.3 = word
            default: continue
            }
            word = 0
        }
        guard digits == 64 else { return nil }
        (a, b, c, d) = words
    }

    /// The digest's 32 bytes, nil unless there are exactly 32.
    package init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words: [UInt64] = []
        var word: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            word = word << 8 | UInt64(byte)
            if index % 8 == 7 {
                words.append(word)
                word = 0
            }
        }
        (a, b, c, d) = (words[0], words[1], words[2], words[3])
    }

    /// The digest's 32 bytes (the words big-endian, as the hex digits read).
    package var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [a, b, c, d] { withUnsafeBytes(of: word.bigEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// The 64 lowercase hex digits.
    package var hex: String {
        String(unsafeUninitializedCapacity: 64) { buffer in
            func write(_ word: UInt64, at offset: Int) {
                for index in 0..<16 {
                    let nibble = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * index)) & 0x0F
                    buffer[offset + index] = nibble < 10 ? 48 + nibble : 87 + nibble
                }
            }
            write(a, at: 0)
            write(b, at: 16)
            write(c, at: 32)
            write(d, at: 48)
            return 64
        }
    }

    package static func < (lhs: HashedKey, rhs: HashedKey) -> Bool {
        (lhs.a, lhs.b, lhs.c, lhs.d) < (rhs.a, rhs.b, rhs.c, rhs.d)
    }
}

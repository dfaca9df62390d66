/// Unpadded base64url (RFC 4648 section 5): the one implementation of the project.
///
/// Two decoders over one table: ``decodeCanonical(_:)-(ArraySlice<UInt8>)`` accepts exactly one
/// encoding of each byte string (what JOSE requires of tokens and keys, RFC 7515 section 2), and
/// ``decode(_:)`` is lenient (padding allowed, unused trailing bits ignored) for values Cloakroom
/// wrote itself. `encode(_:)` writes the canonical form.
public enum Base64URL {
    /// The bytes `segment` encodes, or nil if it holds padding, a character outside
    /// `A-Z a-z 0-9 - _`, an impossible length, or non-zero trailing bits (so each byte string
    /// has exactly one accepted encoding).
    public static func decodeCanonical(_ segment: ArraySlice<UInt8>) -> [UInt8]? {
        decode(segment, canonical: true)
    }

    /// String form of ``decodeCanonical(_:)-(ArraySlice<UInt8>)``.
    public static func decodeCanonical(_ text: String) -> [UInt8]? {
        decodeCanonical(ArraySlice(text.utf8))
    }

    /// Decodes unpadded or padded base64url; nil for any other character, misplaced padding or an
    /// impossible length. Unused trailing bits are ignored.
    public static func decode(_ text: String) -> [UInt8]? {
        var bytes = ArraySlice(text.utf8)
        var padding = 0
        while bytes.last == UInt8(ascii: "="), padding < 2 {
            bytes.removeLast()
            padding += 1
        }
        if padding > 0, (bytes.count + padding) % 4 != 0 { return nil }
        return decode(bytes, canonical: false)
    }

    /// Length of the unpadded encoding of `byteCount` bytes.
    public static func encodedLength(of byteCount: Int) -> Int {
        (byteCount * 4 + 2) / 3
    }

    private static func decode(_ segment: ArraySlice<UInt8>, canonical: Bool) -> [UInt8]? {
        segment.withUnsafeBufferPointer { input -> [UInt8]? in
            guard let count = decodedCount(input) else { return nil }
            var valid = true
            let output = [UInt8](unsafeUninitializedCapacity: count) { output, written in
                valid = count == 0 || decode(input, into: output.baseAddress!, canonical: canonical)
                written = valid ? count : 0
            }
            return valid ? output : nil
        }
    }

    /// Room enough to decode the segments of a token of `count` bytes, with the 2 bytes of
    /// slack ``decode(_:into:slack:)`` may write.
    package static func decodingCapacity(_ count: Int) -> Int {
        count / 4 * 3 + 5
    }

    /// How many bytes `input` decodes to; nil for a length no encoding has (4n + 1).
    @inline(__always)
    package static func decodedCount(_ input: UnsafeBufferPointer<UInt8>) -> Int? {
        let tail = input.count & 3
        guard tail != 1 else { return nil }
        return input.count / 4 * 3 + (tail == 0 ? 0 : tail - 1)
    }

    /// Decodes `input` into `output` (``decodedCount(_:)`` bytes, or with `slack`, up to 2 more
    /// that may be overwritten with garbage); false for anything ``decodeCanonical(_:)-(ArraySlice<UInt8>)``
    /// refuses (or, with `canonical` false, the same but for unused trailing bits).
    /// Table-driven, eight characters to one 8-byte store when there is slack, with the
    /// character check folded into one test at the end.
    package static func decode(
        _ input: UnsafeBufferPointer<UInt8>,
        into output: UnsafeMutablePointer<UInt8>,
        slack: Bool = false,
        canonical: Bool = true
    ) -> Bool {
        let tail = input.count & 3
        guard tail != 1 else { return false }
        guard let source = input.baseAddress else { return true }
        return decodingTable.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            let whole = input.count - tail
            var invalid: UInt8 = 0
            var index = 0
            var written = 0
            if slack {
                // Eight characters to one 8-byte store: each character's value comes from a
                // table already shifted to its place in its group of four (an invalid character
                // sets every bit), so a group is four loads ORed together.
                let target = UnsafeMutableRawPointer(output)
                var invalidGroups: UInt32 = 0
                shiftedDecodingTables.withUnsafeBufferPointer { shifted in
                    let shifted = shifted.baseAddress!
                    while whole - index >= 8 {
                        let first =
                            shifted[Int(source[index])] | shifted[256 + Int(source[index + 1])]
                            | shifted[512 + Int(source[index + 2])] | shifted[768 + Int(source[index + 3])]
                        let second =
                            shifted[Int(source[index + 4])] | shifted[256 + Int(source[index + 5])]
                            | shifted[512 + Int(source[index + 6])] | shifted[768 + Int(source[index + 7])]
                        invalidGroups |= first | second
                        let bits = UInt64(first & 0xFF_FFFF) << 40 | UInt64(second & 0xFF_FFFF) << 16
                        target.storeBytes(of: bits.bigEndian, toByteOffset: written, as: UInt64.self)  // 6 bytes + 2 of slack
                        index += 8
                        written += 6
                    }
                }
                if invalidGroups & 0x8000_0000 != 0 { invalid = 0xFF }
            }
            while index < whole {
                let a = table[Int(source[index])]
                let b = table[Int(source[index + 1])]
                let c = table[Int(source[index + 2])]
                let d = table[Int(source[index + 3])]
                invalid |= a | b | c | d
                let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                output[written] = UInt8(truncatingIfNeeded: group >> 16)
                output[written + 1] = UInt8(truncatingIfNeeded: group >> 8)
                output[written + 2] = UInt8(truncatingIfNeeded: group)
                index += 4
                written += 3
            }
            if tail >= 2 {
                let a = table[Int(source[index])]
                let b = table[Int(source[index + 1])]
                invalid |= a | b
                output[written] = a << 2 | b >> 4
                if tail == 3 {
                    let c = table[Int(source[index + 2])]
                    invalid |= c
                    if canonical { invalid |= c & 0x03 == 0 ? 0 : 0xFF }  // 2 unused bits must be zero
                    output[written + 1] = b << 4 | c >> 2
                } else {
                    if canonical { invalid |= b & 0x0F == 0 ? 0 : 0xFF }  // 4 unused bits must be zero
                }
            }
            return invalid & 0xC0 == 0
        }
    }

    /// For each position `k` in a group of four characters, the 6-bit value of each base64url
    /// character shifted to bits `18 - 6k` (256 entries per position); all ones for any other byte.
    private static let shiftedDecodingTables: [UInt32] = (0..<4).flatMap { position in
        decodingTable.map { value in value == 0xFF ? UInt32.max : UInt32(value) << UInt32(18 - 6 * position) }
    }

    /// The 6-bit value of each base64url character; 0xFF for every other byte.
    private static let decodingTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()

    /// The unpadded base64url encoding of `bytes` (the canonical form).
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        let count = bytes.count
        let length = (count * 4 + 2) / 3
        return String(unsafeUninitializedCapacity: length) { output in
            alphabet.withUTF8Buffer { table in
                var written = 0
                var iterator = bytes.makeIterator()
                while let first = iterator.next() {
                    let second = iterator.next()
                    let third = iterator.next()
                    let group = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
                    output[written] = table[Int(group >> 18 & 0x3F)]
                    output[written + 1] = table[Int(group >> 12 & 0x3F)]
                    written += 2
                    if second != nil {
                        output[written] = table[Int(group >> 6 & 0x3F)]
                        written += 1
                    }
                    if third != nil {
                        output[written] = table[Int(group & 0x3F)]
                        written += 1
                    }
                }
                return written
            }
        }
    }

    /// The unpadded base64url encoding of any byte sequence (a digest, say).
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        encode(Array(bytes))
    }
}

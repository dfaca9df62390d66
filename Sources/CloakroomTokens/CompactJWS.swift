import CloakroomCore

/// A JWS in compact serialization, split and decoded under strict rules, not yet verified.
///
/// RFC 7515 section 7.1 and RFC 8725 section 3.7: exactly three segments, each unpadded base64url
/// (section 2) in its canonical form; anything else is `malformed`. The size limit is applied
/// before the token is even split.
struct CompactJWS: Sendable {
    /// The decoded header, a JSON object.
    let header: [String: JSONValue]
    /// The header's UTF-8 JSON bytes.
    let headerBytes: [UInt8]
    /// The decoded payload bytes.
    let payload: [UInt8]
    /// The decoded signature bytes.
    let signature: [UInt8]
    /// `BASE64URL(header) '.' BASE64URL(payload)`: what the signature covers.
    let signingInput: [UInt8]

    static func parse(_ token: String, maximumSize: Int) throws(TokenError) -> CompactJWS {
        // utf8.count is O(1) for native strings: a huge token is refused without being scanned.
        guard token.utf8.count <= maximumSize else { throw .tooLarge(limit: maximumSize) }
        let bytes = Array(token.utf8)
        let segments = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3 else {
            throw .malformed("a token has exactly three dot-separated segments")
        }
        guard let headerBytes = StrictBase64URL.decode(segments[0]), !headerBytes.isEmpty,
              let payload = StrictBase64URL.decode(segments[1]),
              let signature = StrictBase64URL.decode(segments[2])
        else {
            throw .malformed("a segment is not unpadded base64url")
        }
        guard let header = JSONValue.object(from: headerBytes) else {
            throw .malformed("the header is not a JSON object with distinct member names")
        }
        let signingInputEnd = segments[0].count + 1 + segments[1].count
        return CompactJWS(
            header: header,
            headerBytes: headerBytes,
            payload: payload,
            signature: signature,
            signingInput: Array(bytes[0..<signingInputEnd])
        )
    }
}

/// Unpadded base64url that accepts only the canonical encoding of some bytes.
enum StrictBase64URL {
    /// The bytes `segment` encodes, or nil if it holds padding, a character outside
    /// `A-Z a-z 0-9 - _`, an impossible length, or non-zero trailing bits (so each byte string
    /// has exactly one accepted encoding).
    static func decode(_ segment: ArraySlice<UInt8>) -> [UInt8]? {
        segment.withUnsafeBufferPointer { input -> [UInt8]? in
            let tail = input.count % 4
            guard tail != 1 else { return nil }
            let whole = input.count - tail
            var output = [UInt8]()
            output.reserveCapacity(whole / 4 * 3 + 2)
            var index = 0
            while index < whole {
                let a = value(input[index]), b = value(input[index + 1]), c = value(input[index + 2]), d = value(input[index + 3])
                guard (a | b | c | d) & 0xC0 == 0 else { return nil }
                output.append(a << 2 | b >> 4)
                output.append(b << 4 | c >> 2)
                output.append(c << 6 | d)
                index += 4
            }
            if tail >= 2 {
                let a = value(input[index]), b = value(input[index + 1])
                guard (a | b) & 0xC0 == 0 else { return nil }
                output.append(a << 2 | b >> 4)
                if tail == 3 {
                    let c = value(input[index + 2])
                    guard c & 0xC0 == 0, c & 0x03 == 0 else { return nil }  // 2 unused bits must be zero
                    output.append(b << 4 | c >> 2)
                } else {
                    guard b & 0x0F == 0 else { return nil }  // 4 unused bits must be zero
                }
            }
            return output
        }
    }

    /// The 6-bit value of a base64url character; 0xFF for any other byte.
    @inline(__always)
    private static func value(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte &- UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte &- UInt8(ascii: "a") &+ 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte &- UInt8(ascii: "0") &+ 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: 0xFF
        }
    }

    /// The unpadded base64url encoding of `bytes` (the canonical form ``decode(_:)`` accepts).
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        let count = bytes.count
        let length = (count * 4 + 2) / 3
        return String(unsafeUninitializedCapacity: length) { output in
            alphabet.withUTF8Buffer { table in
                var written = 0
                var iterator = bytes.makeIterator()
                while let first = iterator.next() {
                    let second = iterator.next(), third = iterator.next()
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

    /// String form of `decode`.
    static func decode(_ text: String) -> [UInt8]? {
        decode(ArraySlice(text.utf8))
    }
}

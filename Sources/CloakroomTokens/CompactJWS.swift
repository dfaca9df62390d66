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
    /// `A-Z a-z 0-9 - _`, an impossible length, or non-zero trailing bits.
    static func decode(_ segment: ArraySlice<UInt8>) -> [UInt8]? {
        guard segment.count % 4 != 1 else { return nil }
        for byte in segment {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                continue
            default:
                return nil
            }
        }
        let text = String(decoding: segment, as: UTF8.self)
        guard let decoded = Base64URL.decode(text), Base64URL.encode(decoded) == text else { return nil }
        return decoded
    }

    /// String form of `decode`.
    static func decode(_ text: String) -> [UInt8]? {
        decode(ArraySlice(text.utf8))
    }
}

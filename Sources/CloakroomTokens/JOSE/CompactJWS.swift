import CloakroomCore
import Foundation

/// A JWS in compact serialization, split and decoded under strict rules, not yet verified.
///
/// RFC 7515 section 7.1 and RFC 8725 section 3.7: exactly three segments, each unpadded base64url
/// (section 2) in its canonical form; anything else is `malformed`. The size limit is applied
/// before the token is even split. The three segments are decoded into one buffer; the signing
/// input is not copied: it is the first ``signingInputCount`` bytes of the token's UTF-8.
struct CompactJWS: Sendable {
    /// The decoded header, payload and signature, one after the other.
    let decoded: [UInt8]
    /// Where the parts are.
    let layout: Layout

    /// Where the parts of a token are, in its decoded bytes and in its text.
    struct Layout: Sendable {
        /// The header's length in the decoded bytes.
        let headerCount: Int
        /// The payload's length in the decoded bytes, after the header.
        let payloadCount: Int
        /// The signature's length in the decoded bytes, after the payload.
        let signatureCount: Int
        /// The length of `BASE64URL(header) '.' BASE64URL(payload)`, what the signature covers,
        /// at the start of the token.
        let signingInputCount: Int
        /// The header members the verifier looks at (the header is a JSON object with distinct names).
        let header: JOSEHeader
    }

    /// The header members the verifier looks at.
    var header: JOSEHeader { layout.header }
    /// The header's UTF-8 JSON bytes.
    var headerBytes: ArraySlice<UInt8> { decoded[0..<layout.headerCount] }
    /// The decoded payload bytes.
    var payload: ArraySlice<UInt8> { decoded[layout.headerCount..<(layout.headerCount + layout.payloadCount)] }
    /// The decoded signature bytes.
    var signature: ArraySlice<UInt8> { decoded[(layout.headerCount + layout.payloadCount)...] }

    static func parse(_ token: String, maximumSize: Int) throws(TokenError) -> CompactJWS {
        // utf8.count is O(1) for native strings: a huge token is refused without being scanned.
        guard token.utf8.count <= maximumSize else { throw .tooLarge(limit: maximumSize) }
        return try withUTF8(of: token) { bytes in
            Result { () throws(TokenError) in
                var layout: Layout?
                var failure: TokenError?
                let decoded = [UInt8](unsafeUninitializedCapacity: Base64URL.decodingCapacity(bytes.count)) { output, count in
                    do throws(TokenError) {
                        let parsed = try JWSBytes.parse(bytes, into: output)
                        layout = parsed.layout
                        count = parsed.decoded.count
                    } catch {
                        failure = error
                        count = 0
                    }
                }
                if let failure { throw failure }
                return CompactJWS(decoded: decoded, layout: layout!)
            }
        }.get()
    }

    /// Calls `body` with a view of these bytes.
    func withBytes<R, E: Error>(_ body: (JWSBytes) throws(E) -> R) throws(E) -> R {
        try decoded.withUnsafeBufferPointer { buffer in
            Result { () throws(E) in try body(JWSBytes(decoded: buffer, layout: layout)) }
        }.get()
    }

    /// A header member's string (see ``JOSEHeader/Member``).
    func string(_ member: JOSEHeader.Member) -> String? {
        withBytes { $0.string(member) }
    }
}

/// A parsed token over borrowed decoded bytes (see ``CompactJWS``); valid only while they are.
struct JWSBytes {
    /// The decoded header, payload and signature, one after the other.
    let decoded: UnsafeBufferPointer<UInt8>
    /// Where the parts are.
    let layout: CompactJWS.Layout

    var header: JOSEHeader { layout.header }
    var headerBytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: decoded[0..<layout.headerCount]) }
    var payload: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: decoded[layout.headerCount..<(layout.headerCount + layout.payloadCount)])
    }
    var signature: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: decoded[(layout.headerCount + layout.payloadCount)...]))
    }

    /// Splits and decodes the token `bytes` into `output` (at least
    /// ``Base64URL/decodingCapacity(_:)`` bytes). The size limit is the caller's.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) throws(TokenError) -> JWSBytes {
        guard let firstDot = find(UInt8(ascii: "."), in: bytes, from: 0),
            let secondDot = find(UInt8(ascii: "."), in: bytes, from: firstDot + 1),
            find(UInt8(ascii: "."), in: bytes, from: secondDot + 1) == nil
        else {
            throw .malformed("a token has exactly three dot-separated segments")
        }
        let headerText = UnsafeBufferPointer(rebasing: bytes[0..<firstDot])
        let payloadText = UnsafeBufferPointer(rebasing: bytes[(firstDot + 1)..<secondDot])
        let signatureText = UnsafeBufferPointer(rebasing: bytes[(secondDot + 1)...])
        guard let headerCount = Base64URL.decodedCount(headerText), headerCount > 0,
            let payloadCount = Base64URL.decodedCount(payloadText),
            let signatureCount = Base64URL.decodedCount(signatureText)
        else {
            throw .malformed("a segment is not unpadded base64url")
        }
        // Each segment may write 2 bytes past its end: into the next one, decoded after it, or
        // into the 2 spare bytes at the end (decodingCapacity leaves room for them).
        let total = headerCount + payloadCount + signatureCount
        precondition(output.count >= total + 2)
        let base = output.baseAddress!
        guard Base64URL.decode(headerText, into: base, slack: true),
            Base64URL.decode(payloadText, into: base + headerCount, slack: true),
            Base64URL.decode(signatureText, into: base + headerCount + payloadCount, slack: true)
        else {
            throw .malformed("a segment is not unpadded base64url")
        }
        let decoded = UnsafeBufferPointer(rebasing: output[0..<total])
        guard let header = JOSEHeader(json: UnsafeBufferPointer(rebasing: decoded[0..<headerCount])) else {
            throw .malformed("the header is not a JSON object with distinct member names")
        }
        let layout = CompactJWS.Layout(
            headerCount: headerCount,
            payloadCount: payloadCount,
            signatureCount: signatureCount,
            signingInputCount: secondDot,
            header: header
        )
        return JWSBytes(decoded: decoded, layout: layout)
    }

    /// The first index of `byte` in `bytes` at or after `start`.
    @inline(__always)
    private static func find(_ byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard start < bytes.count, let found = memchr(bytes.baseAddress! + start, Int32(byte), bytes.count - start) else { return nil }
        return bytes.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// A header member's string (see ``JOSEHeader/Member``).
    func string(_ member: JOSEHeader.Member) -> String? {
        member.string(in: headerBytes)
    }

    /// Calls `body` with the header member's bytes when it is an ``JOSEHeader/Member/ascii(_:)``
    /// string, else with its `String` (nil when absent or not a string).
    func withMember<R>(_ member: JOSEHeader.Member, _ body: (HeaderText?) -> R) -> R {
        switch member {
        case .ascii(let range): body(.ascii(UnsafeBufferPointer(rebasing: decoded[range])))
        case .string(let text): body(.string(text))
        case .absent, .notString: body(nil)
        }
    }

    /// What the signature covers: the start of `token`, the UTF-8 of the token this was parsed from.
    func signingInput(of token: UnsafeBufferPointer<UInt8>) -> UnsafeRawBufferPointer {
        precondition(token.count >= layout.signingInputCount)
        return UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: token[0..<layout.signingInputCount]))
    }
}

/// A header string as read: its bytes (printable ASCII, the string itself) or the decoded string.
enum HeaderText {
    case ascii(UnsafeBufferPointer<UInt8>)
    case string(String)

    var string: String {
        switch self {
        case .ascii(let bytes): String(decoding: bytes, as: UTF8.self)
        case .string(let text): text
        }
    }

    /// `String` equality with `other`, without making a `String` when both are ASCII.
    func equals(_ other: String) -> Bool {
        switch self {
        case .string(let text):
            return text == other
        case .ascii(let bytes):
            // Two ASCII strings are equal exactly when their bytes are; an ASCII string can
            // equal a non-ASCII one (U+212A KELVIN SIGN equals "K"), so that case compares Strings.
            var copy = other
            let asciiEqual: Bool? = copy.withUTF8 { utf8 in
                guard utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
                return utf8.count == bytes.count && (bytes.isEmpty || memcmp(utf8.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
            }
            return asciiEqual ?? (String(decoding: bytes, as: UTF8.self) == other)
        }
    }
}

/// Calls `body` with the UTF-8 of `text`, without a copy when the string is stored contiguously
/// (every native Swift string is).
@inline(__always)
func withUTF8<R>(of text: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let result = text.utf8.withContiguousStorageIfAvailable(body) {
        return result
    }
    var copy = text
    return copy.withUTF8(body)
}

/// The header members a verifier acts on, read from a header that is a JSON object with
/// distinct member names (the same rules as ``JSONValue/object(from:)``), without building the
/// object.
struct JOSEHeader: Sendable {
    /// A header member that should be a string.
    enum Member: Sendable, Equatable {
        case absent
        /// A string that is its own bytes (printable ASCII, no escapes), at this range of the
        /// header's bytes: no `String` is made unless one is needed.
        case ascii(Range<Int>)
        case string(String)
        /// Present, but not a string.
        case notString

        /// The string, for a header read from `bytes`; nil when absent or not a string.
        func string(in bytes: UnsafeBufferPointer<UInt8>) -> String? {
            switch self {
            case .ascii(let range): String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            case .string(let text): text
            case .absent, .notString: nil
            }
        }
    }

    /// `alg`.
    var alg: Member = .absent
    /// `alg` when it names one of ``TokenAlgorithm`` exactly.
    var algorithm: TokenAlgorithm?
    /// `kid`.
    var kid: Member = .absent
    /// `typ`.
    var typ: Member = .absent
    /// True when one of `jwk`, `jku`, `x5u`, `x5c` is present, whatever its value.
    var hasEmbeddedKey = false
    /// True when `crit` is present, whatever its value.
    var hasCrit = false

    /// `alg`, `kid`, `typ`, `crit`, then the header parameters that carry or point to a key or
    /// certificate (RFC 7515 sections 4.1.2-4.1.6).
    static let names = JSONMemberNames(["alg", "kid", "typ", "crit"] + HeaderRules.embeddedKeyParameters)

    /// Nil when `json` is not a JSON object with distinct member names.
    init?(json: UnsafeBufferPointer<UInt8>) {
        var header = JOSEHeader()
        var parser = JSONValue.Parser(bytes: json)
        let valid = parser.objectDocument(Self.names) { index, parser in
            guard index < 3 else {
                guard parser.value() != nil else { return false }
                if index == 3 { header.hasCrit = true } else { header.hasEmbeddedKey = true }
                return true
            }
            let member: Member
            var algorithm: TokenAlgorithm?
            if parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "\"") {
                guard let text = parser.text() else { return false }
                switch text {
                case .ascii(let bytes):
                    let end = parser.index - 1  // text() has read the closing quote
                    member = .ascii((end - bytes.count)..<end)
                    if index == 0 { algorithm = TokenAlgorithm(ascii: bytes) }
                case .string(let decoded):
                    member = .string(decoded)
                    if index == 0 { algorithm = TokenAlgorithm(name: decoded) }
                }
            } else {
                guard parser.value() != nil else { return false }
                member = .notString
            }
            switch index {
            case 0:
                header.alg = member
                header.algorithm = algorithm
            case 1: header.kid = member
            default: header.typ = member
            }
            return true
        }
        guard valid else { return nil }
        self = header
    }

    private init() {}
}

import Foundation

/// A parsed JSON value, for headers and claim sets read member by member so each problem gets
/// its own error.
enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses `bytes` as a JSON object; nil for anything else, including an object that names
    /// a member twice (RFC 7515 section 5.2 and RFC 7519 section 4: such a header or claim set
    /// must be rejected, as parsers disagree on which value wins).
    ///
    /// A strict RFC 8259 parser in one pass: no trailing commas, no byte order mark, no comments,
    /// no control characters or lone surrogates in strings, valid UTF-8, at most
    /// ``maximumDepth`` nested containers. Member names are compared after unescaping, so
    /// `"alg"` and `"al\u0067"` are the same name. Numbers become `.integer` when their value is
    /// an exact `Int64` (`1`, `1.0`, `1e2`), else `.number`; a number that overflows a `Double`
    /// is refused.
    static func object(from bytes: [UInt8]) -> [String: JSONValue]? {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer)
            guard case .object(let members)? = parser.document() else { return nil }
            return members
        }
    }

    /// Containers nested deeper than this are refused (a token never nests more than twice).
    static let maximumDepth = 32

    /// The one-pass parser behind ``object(from:)`` and ``readObject(_:names:member:)``.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var depth = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        /// One value with only whitespace around it.
        mutating func document() -> JSONValue? {
            skipWhitespace()
            guard let result = value() else { return nil }
            skipWhitespace()
            return index == bytes.count ? result : nil
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
                default: return
                }
            }
        }

        /// A string value starting at its opening quote, without building a `String` when its
        /// bytes are the string (ASCII, no escapes); otherwise exactly ``string()``.
        mutating func text() -> JSONText? {
            let quote = index
            index += 1
            let start = index
            // Eight bytes at a time up to the first byte that may end or complicate the string
            // (quote, backslash, control, non-ASCII); the loop below looks at that byte itself.
            if let base = bytes.baseAddress {
                while bytes.count - index >= 8 {
                    let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                    let special = Self.specialBytes(word)
                    if special != 0 {
                        index += special.trailingZeroBitCount / 8
                        break
                    }
                    index += 8
                }
            }
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    return .ascii(raw)
                }
                guard byte >= 0x20 else { return nil }
                if byte == UInt8(ascii: "\\") || byte >= 0x80 { break }
                index += 1
            }
            index = quote
            return string().map(JSONText.string)
        }

        /// The high bit of each byte of `word` (little-endian) that is a quote, a backslash, a
        /// control character or non-ASCII; the lowest one set is exact (higher ones may be spurious).
        @inline(__always)
        static func specialBytes(_ word: UInt64) -> UInt64 {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let high: UInt64 = 0x8080_8080_8080_8080
            let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
            let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
            let quoteZero = (quote &- ones) & ~quote
            let backslashZero = (backslash &- ones) & ~backslash
            let control = (word &- ones &* 0x20) & ~word
            return (quoteZero | backslashZero | control | word) & high
        }

        /// A document that is one object, read member by member without building it: each
        /// member named in `names` is handed to `member` (its index in `names`, and the parser at
        /// its value, which `member` must consume); every other member's value is parsed and
        /// dropped. The same rules as ``object(from:)``: names are compared after unescaping and
        /// as `String`s (so with the same equality a dictionary key has), a name used twice fails,
        /// and so does anything ``document()`` refuses.
        mutating func objectDocument(_ names: JSONMemberNames, member: (Int, inout Parser) -> Bool) -> Bool {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return false }
            depth += 1
            index += 1  // {
            var seen: UInt64 = 0
            var others: Set<String> = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
            } else {
                members: while true {
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let name = text() else { return false }
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                    index += 1
                    skipWhitespace()
                    if let known = names.index(of: name, within: bytes) {
                        let bit: UInt64 = 1 << UInt64(known)
                        guard seen & bit == 0 else { return false }  // a name used twice
                        seen |= bit
                        guard member(known, &self) else { return false }
                    } else {
                        guard value() != nil else { return false }
                        guard others.insert(name.string).inserted else { return false }  // a name used twice
                    }
                    skipWhitespace()
                    guard index < bytes.count else { return false }
                    switch bytes[index] {
                    case UInt8(ascii: ","): index += 1
                    case UInt8(ascii: "}"):
                        index += 1
                        break members
                    default: return false
                    }
                }
            }
            depth -= 1
            skipWhitespace()
            return index == bytes.count
        }

        /// Consumes `literal` if the input continues with it.
        mutating func consume(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            let start = literal.utf8Start
            for offset in 0..<count where bytes[index + offset] != start[offset] {
                return false
            }
            index += count
            return true
        }

        mutating func value() -> JSONValue? {
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object()
            case UInt8(ascii: "["): return array()
            case UInt8(ascii: "\""): return string().map(JSONValue.string)
            case UInt8(ascii: "t"): return consume("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return consume("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return consume("null") ? .null : nil
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
            default: return nil
            }
        }

        mutating func object() -> JSONValue? {
            depth += 1
            defer { depth -= 1 }
            guard depth <= JSONValue.maximumDepth else { return nil }
            index += 1  // {
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(12)  // a claim set's size: no rehashing while it fills
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let name = string() else { return nil }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                skipWhitespace()
                guard let member = value() else { return nil }
                guard members.updateValue(member, forKey: name) == nil else { return nil }  // a name used twice
                skipWhitespace()
                guard index < bytes.count else { return nil }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return .object(members)
                default: return nil
                }
            }
        }

        mutating func array() -> JSONValue? {
            depth += 1
            defer { depth -= 1 }
            guard depth <= JSONValue.maximumDepth else { return nil }
            index += 1  // [
            var elements: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                guard let element = value() else { return nil }
                elements.append(element)
                skipWhitespace()
                guard index < bytes.count else { return nil }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return .array(elements)
                default: return nil
                }
            }
        }

        /// A string starting at the opening quote; nil for control characters, bad escapes, lone
        /// surrogates or invalid UTF-8.
        mutating func string() -> String? {
            index += 1  // "
            let start = index
            // The common case: no escapes, so the bytes are the string (and ASCII needs no check).
            var ascii = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    return ascii ? String(decoding: raw, as: UTF8.self) : String(validating: raw, as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") { break }
                guard byte >= 0x20 else { return nil }
                ascii = ascii && byte < 0x80
                index += 1
            }
            guard index < bytes.count else { return nil }
            var decoded = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(validating: decoded, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                    case UInt8(ascii: "b"): decoded.append(0x08)
                    case UInt8(ascii: "f"): decoded.append(0x0C)
                    case UInt8(ascii: "n"): decoded.append(0x0A)
                    case UInt8(ascii: "r"): decoded.append(0x0D)
                    case UInt8(ascii: "t"): decoded.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var code = hex4() else { return nil }
                        if (0xD800...0xDBFF).contains(code) {
                            guard consume("\\u"), let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { return nil }  // a lone low surrogate
                        decoded.append(contentsOf: String(scalar).utf8)
                    default:
                        return nil
                    }
                default:
                    guard byte >= 0x20 else { return nil }
                    decoded.append(byte)
                    index += 1
                }
            }
            return nil
        }

        /// Four hex digits after `\u`.
        mutating func hex4() -> UInt32? {
            guard bytes.count - index >= 4 else { return nil }
            var code: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                code = code << 4 | UInt32(digit)
                index += 1
            }
            return code
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        mutating func number() -> JSONValue? {
            let start = index
            func digits() -> Int {
                let first = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                return index - first
            }
            let negative = bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            guard index < bytes.count else { return nil }
            // The integer part's value, read in the same pass (wrapping: used only when short).
            var magnitude: Int64 = 0
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                let first = index
                while index < bytes.count {
                    let digit = bytes[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { break }
                    magnitude = magnitude &* 10 &+ Int64(digit)
                    index += 1
                }
                guard index > first else { return nil }
            }
            var integral = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                integral = false
                guard digits() > 0 else { return nil }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                integral = false
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return nil }
            }
            // Up to 18 digits always fit an Int64: no text needed.
            if integral, index - start <= 18 {
                return .integer(negative ? -magnitude : magnitude)
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if integral, let exact = Int64(text) {
                return .integer(exact)
            }
            guard let double = Double(text), double.isFinite else { return nil }
            if let exact = Int64(exactly: double) {
                return .integer(exact)
            }
            return .number(double)
        }
    }

    /// The string, if this is one.
    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number as seconds, if this is a number.
    var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    /// The integer, if this is an integral number.
    var integerValue: Int? {
        switch self {
        case .integer(let value): Int(exactly: value)
        case .number(let value): Int(exactly: value)
        default: nil
        }
    }
}

/// A JSON string read by ``JSONValue/Parser/text()``: its bytes when they are the string,
/// else the decoded `String`. The bytes point into the parsed buffer and live only as long as it.
enum JSONText {
    /// Printable ASCII without escapes: the bytes are the string.
    case ascii(UnsafeBufferPointer<UInt8>)
    /// Anything else, decoded and validated.
    case string(String)

    /// The string; `interned` itself when it is equal (saves a copy of a string known in advance).
    func string(interning interned: String?) -> String {
        switch self {
        case .string(let text):
            return text
        case .ascii(let bytes):
            if let interned, Self.equal(bytes, interned) { return interned }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    var string: String { string(interning: nil) }

    /// True when `bytes` (ASCII) are the UTF-8 of `text`; for ASCII this is `String` equality.
    static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in
            utf8.count == bytes.count && (bytes.isEmpty || memcmp(utf8.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
        }
    }
}

/// The member names a reader picks out of an object (at most 64, ASCII, at most 16 bytes each).
struct JSONMemberNames: Sendable {
    let names: [String]
    /// Each name's length and bytes packed into two words, for comparing a name in two steps.
    private let packed: [Packed]

    private struct Packed: Equatable, Sendable {
        var count: Int
        var low: UInt64
        var high: UInt64

        /// `bytes` (the first 16) packed little-endian, zero-filled. (Shifts, not a copy through
        /// memory: a wide load of bytes just stored stalls.)
        init(_ bytes: UnsafeBufferPointer<UInt8>) {
            count = bytes.count
            low = 0
            high = 0
            var index = 0
            while index < min(count, 8) {
                low |= UInt64(bytes[index]) << UInt64(index * 8)
                index += 1
            }
            while index < min(count, 16) {
                high |= UInt64(bytes[index]) << UInt64((index - 8) * 8)
                index += 1
            }
        }

        /// The same as `init(bytes)`, reading two words at once when 16 bytes from the start of
        /// `bytes` lie within `readable`.
        @inline(__always)
        init(_ bytes: UnsafeBufferPointer<UInt8>, within readable: UnsafeBufferPointer<UInt8>) {
            guard let start = bytes.baseAddress, let end = readable.baseAddress.map({ $0 + readable.count }),
                start + 16 <= end, bytes.count <= 16
            else {
                self.init(bytes)
                return
            }
            func mask(_ count: Int) -> UInt64 { count >= 8 ? ~0 : (1 << UInt64(count * 8)) &- 1 }
            let raw = UnsafeRawPointer(start)
            let count = bytes.count
            self.init(
                count: count,
                low: UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)) & mask(count),
                high: count > 8 ? UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) & mask(count - 8) : 0
            )
        }

        private init(count: Int, low: UInt64, high: UInt64) {
            self.count = count
            self.low = low
            self.high = high
        }
    }

    init(_ names: [String]) {
        precondition(names.count <= 64 && names.allSatisfy { $0.utf8.count <= 16 && $0.utf8.allSatisfy { $0 < 0x80 } })
        self.names = names
        self.packed = names.map { name in Array(name.utf8).withUnsafeBufferPointer(Packed.init) }
    }

    /// The index of `name` in `names`, under `String` equality; `readable` is the buffer the
    /// name was read from.
    func index(of name: JSONText, within readable: UnsafeBufferPointer<UInt8>) -> Int? {
        switch name {
        case .ascii(let bytes):
            // Two ASCII strings are equal exactly when their bytes are. (A non-ASCII name comes
            // as `.string` and is compared as a String: U+212A KELVIN SIGN equals "K".)
            guard bytes.count <= 16 else { return nil }
            let key = Packed(bytes, within: readable)
            return packed.withUnsafeBufferPointer { packed in
                for index in packed.indices where packed[index] == key {
                    return index
                }
                return nil
            }
        case .string(let text):
            return names.firstIndex(of: text)
        }
    }
}

public import Foundation

/// Writes JSON byte for byte as `JSONEncoder` does with `.sortedKeys` and `.iso8601` dates, without
/// its reflection-like machinery (`Encodable` through keyed containers and boxed values), which was
/// most of the work of a small signed-in API response (issue 11's profile).
///
/// The caller writes an object's members in sorted key order and leaves out nil ones (as the
/// synthesised `Encodable` with `encodeIfPresent` does); tests compare the output with
/// `JSONEncoder`'s on the same values. Strings are escaped as Foundation does: `"`, `\`, `/`,
/// `\b \t \n \f \r`, other controls as `\u00xx`; everything else is written as UTF-8.
public struct JSONWriter: Sendable {
    /// The JSON written so far.
    public private(set) var bytes: [UInt8] = []
    /// Whether the innermost open object or array has a member already (a comma comes next).
    private var needsComma: [Bool] = []

    /// An empty writer with room for `capacity` bytes.
    public init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    /// `{`; members follow with ``key(_:)`` and a value, then ``endObject()``.
    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    /// `}`.
    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    /// `[`; values follow, then ``endArray()``.
    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    /// `]`.
    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// A member's name; its value comes next.
    public mutating func key(_ name: String) {
        separate()
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
        // The value that follows is not separated from its key.
        if !needsComma.isEmpty { needsComma[needsComma.count - 1] = false }
    }

    /// A string value.
    public mutating func string(_ value: String) {
        separate()
        writeString(value)
    }

    /// A Boolean value.
    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? Array("true".utf8) : Array("false".utf8))
    }

    /// An integer value.
    public mutating func int(_ value: Int) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A date as `JSONEncoder`'s `.iso8601` strategy writes it: `2026-12-06T12:45:01Z`, UTC, whole
    /// seconds (rounded down).
    public mutating func date(_ value: Date) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        let seconds = value.timeIntervalSince1970
        // 1970 to 9999 by arithmetic; anything else (Foundation switches to the Julian calendar
        // before 1582, and to five-digit years) by Foundation itself.
        if seconds >= 0, seconds < 253_402_300_800 {
            let whole = Int(seconds.rounded(.down))
            let (year, month, day) = CookieDate.civilFromDays(whole / 86_400)
            let time = whole % 86_400
            digits(year, 4)
            bytes.append(UInt8(ascii: "-"))
            digits(month, 2)
            bytes.append(UInt8(ascii: "-"))
            digits(day, 2)
            bytes.append(UInt8(ascii: "T"))
            digits(time / 3600, 2)
            bytes.append(UInt8(ascii: ":"))
            digits(time / 60 % 60, 2)
            bytes.append(UInt8(ascii: ":"))
            digits(time % 60, 2)
            bytes.append(UInt8(ascii: "Z"))
        } else {
            bytes.append(contentsOf: Date.ISO8601FormatStyle().format(value).utf8)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func separate() {
        guard let last = needsComma.last else { return }
        if last { bytes.append(UInt8(ascii: ",")) } else { needsComma[needsComma.count - 1] = true }
    }

    private mutating func digits(_ value: Int, _ count: Int) {
        var divisor = 1
        for _ in 1..<count { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// Whether `writeString` writes this byte as an escape: controls, `"`, `\` and `/`.
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/")
    }

    private mutating func writeString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings (keys, IDs, dates, names) need no escape: copied whole.
        var clean = true
        for byte in value.utf8 where Self.needsEscape(byte) {
            clean = false
            break
        }
        if clean {
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "/"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "/")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// A value that writes itself with a ``JSONWriter``, exactly as its `Encodable` conformance would
/// come out of `JSONEncoder` with `.sortedKeys` and `.iso8601` dates.
public protocol JSONWritable {
    /// Writes the value.
    func write(to writer: inout JSONWriter)
}

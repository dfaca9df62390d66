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
    static func object(from bytes: [UInt8]) -> [String: JSONValue]? {
        guard !hasDuplicateMembers(bytes),
              let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)),
              case .object(let members) = value
        else { return nil }
        return members
    }

    /// True when some object in the JSON text `bytes` has two members with the same name
    /// (compared after unescaping, so `"alg"` and `"al\u0067"` are the same). Text that is not
    /// JSON gives false; the decoder refuses it afterwards.
    static func hasDuplicateMembers(_ bytes: [UInt8]) -> Bool {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var objects: [Set<String>?] = []  // one entry per open container; nil for arrays
        var expectingName = false
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"):
                objects.append([])
                expectingName = true
            case UInt8(ascii: "["):
                objects.append(nil)
                expectingName = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !objects.isEmpty { objects.removeLast() }
                expectingName = false
            case UInt8(ascii: ","):
                expectingName = objects.last.map { $0 != nil } ?? false
            case quote:
                let start = index
                index += 1
                var escaped = false
                while index < bytes.count, bytes[index] != quote {
                    if bytes[index] == backslash {
                        escaped = true
                        index += 1
                    }
                    index += 1
                }
                guard index < bytes.count else { return false }
                if expectingName, let last = objects.indices.last, var names = objects[last] {
                    let name: String
                    if escaped {
                        guard let decoded = try? JSONDecoder().decode(String.self, from: Data(bytes[start...index])) else {
                            return false
                        }
                        name = decoded
                    } else {
                        name = String(decoding: bytes[(start + 1)..<index], as: UTF8.self)
                    }
                    guard names.insert(name).inserted else { return true }
                    objects[last] = names
                }
                expectingName = false
            default:
                break
            }
            index += 1
        }
        return false
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

public import Foundation

/// A JSON value for the provider's answers (introspection, metadata, userinfo), encoded with
/// sorted keys.
public enum OAuthJSON: Sendable, Equatable, Encodable {
    case bool(Bool)
    case integer(Int)
    case string(String)
    case array([OAuthJSON])
    case object([String: OAuthJSON])

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// `object` as JSON bytes, keys sorted, slashes unescaped.
    public static func encode(_ object: [String: OAuthJSON]) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(object)) ?? Data("{}".utf8)
    }

    /// A date as whole seconds since 1970 (`iat`, `exp`).
    public static func seconds(_ date: Date) -> OAuthJSON { .integer(Int(date.timeIntervalSince1970.rounded(.down))) }
}

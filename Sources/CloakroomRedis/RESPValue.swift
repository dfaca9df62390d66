/// One RESP2 reply from the server.
///
/// RESP2 has two spellings of "nothing" (the null bulk string `$-1` and the null array `*-1`);
/// both decode to `.null`.
enum RESPValue: Sendable, Equatable {
    /// `+OK`
    case simpleString(String)
    /// `-ERR message`: a reply, not a transport failure.
    case error(String)
    /// `:42`
    case integer(Int64)
    /// `$3 abc`
    case bulkString([UInt8])
    /// `$-1` or `*-1`
    case null
    /// `*2 …`
    case array([RESPValue])

    /// The text of a simple or bulk string (bulk bytes decoded as UTF-8), else nil.
    var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The bytes of a bulk or simple string, else nil.
    var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .simpleString(let text): Array(text.utf8)
        default: nil
        }
    }

    /// An integer reply, or a string reply holding a decimal integer.
    var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString, .simpleString: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements of an array reply, else nil.
    var array: [RESPValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    /// The code of an error reply (`NOSCRIPT`, `WRONGPASS`, …): its first word, never its details.
    var errorCode: String? {
        guard case .error(let message) = self else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
    }
}

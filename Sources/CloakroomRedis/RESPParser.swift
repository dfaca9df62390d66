import NIOCore

/// A reply that breaks RESP2 or our limits. The message names the rule, never the bytes.
struct RESPDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    let message: String
    var description: String { "malformed RESP reply: \(message)" }
}

/// Parses RESP2 replies with hard limits, so a broken or hostile server cannot crash us or make us
/// allocate without bound.
///
/// `parse` either returns a whole value and consumes exactly its bytes, returns nil and consumes
/// nothing (more bytes needed), or throws `RESPDecodingError`.
struct RESPParser: Sendable {
    /// Longest bulk string accepted: a session record is at most tens of KiB, `INFO` a few, so
    /// 8 MiB is ample (Redis's own `proto-max-bulk-len` is 512 MiB, which would let a hostile
    /// server make us buffer that much). `RedisConfiguration.maxReplyBulkBytes`.
    var maxBulkLength = 8 * 1024 * 1024
    /// Deepest nesting of arrays accepted (our replies nest at most 2 deep).
    var maxDepth = 32
    /// Most elements accepted in one array: `SCAN` pages and a user's sessions are far fewer.
    /// `RedisConfiguration.maxReplyArrayCount`.
    var maxArrayCount = 1_000_000
    /// Longest simple string, error or length line accepted.
    var maxLineLength = 64 * 1024

    /// One step of an incremental parse: a whole scalar, or the header of an array whose elements
    /// follow as further items.
    enum Item: Sendable, Equatable {
        case value(RESPValue)
        case arrayStart(count: Int)
    }

    /// Parses one item at the reader index of `buffer` and consumes its bytes: a scalar (simple
    /// string, error, integer, bulk string, null) whole, or an array header alone; nil and nothing
    /// consumed when more bytes are needed. `depth` is how many arrays enclose it (checked
    /// against `maxDepth`). Each byte is examined once per item, so a large array that arrives
    /// slowly costs linear, not quadratic, work.
    func parseItem(_ buffer: inout ByteBuffer, depth: Int) throws -> Item? {
        let start = buffer.readerIndex
        guard let type = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        if type == UInt8(ascii: "*") {
            guard let (line, next) = try readLine(buffer, from: start + 1) else { return nil }
            let length = try parseInteger(line)
            buffer.moveReaderIndex(to: next)
            if length == -1 { return .value(.null) }
            guard length >= 0 else { throw RESPDecodingError(message: "negative array length") }
            guard length <= maxArrayCount else { throw RESPDecodingError(message: "array longer than \(maxArrayCount) elements") }
            guard depth < maxDepth else { throw RESPDecodingError(message: "arrays nested deeper than \(maxDepth)") }
            return .arrayStart(count: Int(length))
        }
        var index = start
        guard let value = try parseValue(buffer, at: &index, depth: depth) else { return nil }
        buffer.moveReaderIndex(to: index)
        return .value(value)
    }

    /// Parses one value at the reader index of `buffer`.
    func parse(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        var index = buffer.readerIndex
        guard let value = try parseValue(buffer, at: &index, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: index)
        return value
    }

    private func parseValue(_ buffer: ByteBuffer, at index: inout Int, depth: Int) throws -> RESPValue? {
        guard let type = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
        guard let (line, next) = try readLine(buffer, from: index + 1) else { return nil }
        switch type {
        case UInt8(ascii: "+"):
            index = next
            return .simpleString(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"):
            index = next
            return .error(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: ":"):
            let value = try parseInteger(line)
            index = next
            return .integer(value)
        case UInt8(ascii: "$"):
            let length = try parseInteger(line)
            if length == -1 {
                index = next
                return .null
            }
            guard length >= 0 else { throw RESPDecodingError(message: "negative bulk length") }
            guard length <= maxBulkLength else { throw RESPDecodingError(message: "bulk string longer than \(maxBulkLength) bytes") }
            let count = Int(length)
            guard buffer.writerIndex - next >= count + 2 else { return nil }
            guard buffer.getInteger(at: next + count, as: UInt8.self) == UInt8(ascii: "\r"),
                buffer.getInteger(at: next + count + 1, as: UInt8.self) == UInt8(ascii: "\n")
            else { throw RESPDecodingError(message: "bulk string not followed by CRLF") }
            guard let bytes = buffer.getBytes(at: next, length: count) else { return nil }
            index = next + count + 2
            return .bulkString(bytes)
        case UInt8(ascii: "*"):
            let length = try parseInteger(line)
            if length == -1 {
                index = next
                return .null
            }
            guard length >= 0 else { throw RESPDecodingError(message: "negative array length") }
            guard length <= maxArrayCount else { throw RESPDecodingError(message: "array longer than \(maxArrayCount) elements") }
            guard depth < maxDepth else { throw RESPDecodingError(message: "arrays nested deeper than \(maxDepth)") }
            let count = Int(length)
            var elements: [RESPValue] = []
            // Never trust a length for allocation: grow as elements actually arrive.
            elements.reserveCapacity(min(count, 1024))
            var cursor = next
            for _ in 0..<count {
                guard let element = try parseValue(buffer, at: &cursor, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            index = cursor
            return .array(elements)
        default:
            throw RESPDecodingError(message: "unknown type byte \(type)")
        }
    }

    /// The bytes up to the next CRLF and the index after it; nil if the line is not complete yet.
    /// Scans the readable bytes directly (a reply's lines are looked at again as more bytes come).
    private func readLine(_ buffer: ByteBuffer, from start: Int) throws -> ([UInt8], Int)? {
        guard start < buffer.writerIndex else { return nil }
        let maxLineLength = maxLineLength
        return try buffer.withUnsafeReadableBytes { readable throws -> ([UInt8], Int)? in
            let bytes = UnsafeRawBufferPointer(rebasing: readable[(start - buffer.readerIndex)...])
            for index in 0..<bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\r") {
                    guard index + 1 < bytes.count else { return nil }
                    guard bytes[index + 1] == UInt8(ascii: "\n") else { throw RESPDecodingError(message: "CR not followed by LF") }
                    return (Array(bytes[0..<index]), start + index + 2)
                }
                if byte == UInt8(ascii: "\n") { throw RESPDecodingError(message: "LF without CR") }
                if index + 1 > maxLineLength { throw RESPDecodingError(message: "line longer than \(maxLineLength) bytes") }
            }
            return nil
        }
    }

    /// A strict decimal integer: optional `-`, then 1 to 19 digits, within Int64.
    private func parseInteger(_ bytes: [UInt8]) throws -> Int64 {
        var digits = bytes[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count <= 19 else { throw RESPDecodingError(message: "bad integer") }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw RESPDecodingError(message: "bad integer") }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw RESPDecodingError(message: "integer out of range") }
            value = sum
        }
        return negative ? -value : value
    }
}

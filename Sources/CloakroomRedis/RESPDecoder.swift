import NIOCore

/// A NIO decoder from bytes to `RESPValue`s, one per complete reply (replies may arrive split or
/// several per read, which is what pipelining produces).
///
/// Incremental: an array's elements are consumed from the buffer as they arrive and kept on a
/// stack of partly built arrays, so a large reply that trickles in is parsed once, not again
/// from its start on every read (which made a slow array quadratic).
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    let parser: RESPParser
    /// Arrays begun and not yet complete, outermost first.
    private var open: [(remaining: Int, elements: [RESPValue])] = []
    /// Bytes looked at so far, counting again those of a partial item looked at once more when
    /// more bytes arrive (tests check that a slow reply costs linear work).
    private(set) var bytesExamined = 0

    init(parser: RESPParser = RESPParser()) {
        self.parser = parser
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try next(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    /// The next complete reply, consuming its bytes; nil when more bytes are needed (the part
    /// already parsed is kept).
    mutating func next(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        while true {
            let before = buffer.readerIndex
            guard let item = try parser.parseItem(&buffer, depth: open.count) else {
                bytesExamined += buffer.readableBytes
                return nil
            }
            bytesExamined += buffer.readerIndex - before
            switch item {
            case .arrayStart(let count) where count > 0:
                // Never trust a length for allocation: grow as elements actually arrive.
                var elements: [RESPValue] = []
                elements.reserveCapacity(min(count, 1024))
                open.append((count, elements))
            case .arrayStart:
                if let done = complete(.array([])) { return done }
            case .value(let value):
                if let done = complete(value) { return done }
            }
        }
    }

    /// Adds `value` to the innermost open array, closing every array it completes; returns the
    /// whole reply once the outermost one is complete (or `value` itself at the top level).
    private mutating func complete(_ value: RESPValue) -> RESPValue? {
        var value = value
        while var innermost = open.popLast() {
            innermost.elements.append(value)
            innermost.remaining -= 1
            guard innermost.remaining == 0 else {
                open.append(innermost)
                return nil
            }
            value = .array(innermost.elements)
        }
        return value
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial reply at EOF is dropped: the connection is closing and its commands fail.
        try decode(context: context, buffer: &buffer)
    }
}

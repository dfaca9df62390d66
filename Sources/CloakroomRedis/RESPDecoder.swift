import NIOCore

/// A NIO decoder from bytes to `RESPValue`s, one per complete reply (replies may arrive split or
/// several per read, which is what pipelining produces).
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    let parser: RESPParser

    init(parser: RESPParser = RESPParser()) {
        self.parser = parser
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try parser.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial reply at EOF is dropped: the connection is closing and its commands fail.
        try decode(context: context, buffer: &buffer)
    }
}

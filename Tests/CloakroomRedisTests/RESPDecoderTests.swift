import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import CloakroomRedis

/// The RESP2 decoder: every reply type, replies split anywhere, and malformed input as errors.
@Suite("RESP decoder")
struct RESPDecoderTests {
    static let replies: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString("OK")),
        ("+\r\n", .simpleString("")),
        ("-ERR unknown command 'FOO'\r\n", .error("ERR unknown command 'FOO'")),
        (":0\r\n", .integer(0)),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(.max)),
        ("$5\r\nhello\r\n", .bulkString(Array("hello".utf8))),
        ("$0\r\n\r\n", .bulkString([])),
        ("$4\r\na\r\nb\r\n", .bulkString(Array("a\r\nb".utf8))),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("*0\r\n", .array([])),
        ("*3\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n", .array([.integer(1), .bulkString(Array("foo".utf8)), .simpleString("bar")])),
        ("*2\r\n*1\r\n$-1\r\n*2\r\n-NOSCRIPT x\r\n:7\r\n", .array([.array([.null]), .array([.error("NOSCRIPT x"), .integer(7)])])),
    ]

    func parseAll(_ text: String, parser: RESPParser = RESPParser()) throws -> [RESPValue] {
        var buffer = ByteBuffer(string: text)
        var out: [RESPValue] = []
        while let value = try parser.parse(&buffer) { out.append(value) }
        #expect(buffer.readableBytes == 0, "bytes left over")
        return out
    }

    @Test("every reply type", arguments: replies.indices)
    func replyType(_ index: Int) throws {
        let (wire, expected) = Self.replies[index]
        #expect(try parseAll(wire) == [expected])
    }

    @Test("a pipeline of replies split at every byte boundary")
    func splitEverywhere() throws {
        let wire = Self.replies.map(\.0).joined()
        let expected = Self.replies.map(\.1)
        let bytes = Array(wire.utf8)
        let parser = RESPParser()
        for cut in 0...bytes.count {
            var buffer = ByteBuffer(bytes: bytes[..<cut])
            var out: [RESPValue] = []
            while let value = try parser.parse(&buffer) { out.append(value) }
            buffer.writeBytes(bytes[cut...])
            while let value = try parser.parse(&buffer) { out.append(value) }
            #expect(out == expected, "split at \(cut)")
            #expect(buffer.readableBytes == 0)
        }
        // And one byte at a time.
        var buffer = ByteBuffer()
        var out: [RESPValue] = []
        for byte in bytes {
            buffer.writeInteger(byte)
            while let value = try parser.parse(&buffer) { out.append(value) }
        }
        #expect(out == expected)
    }

    @Test("an incomplete reply consumes nothing")
    func incomplete() throws {
        for text in ["", "+OK", "+OK\r", "$5\r\nhel", "$5\r\nhello\r", "*2\r\n:1\r\n", ":12"] {
            var buffer = ByteBuffer(string: text)
            #expect(try RESPParser().parse(&buffer) == nil, "\(text.debugDescription)")
            #expect(buffer.readableBytes == text.utf8.count)
        }
    }

    @Test("NIO's decoder verifier: chunked, drip-fed and back-to-back input")
    func verifier() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: Self.replies.map { ($0.0, [$0.1]) },
            decoderFactory: { RESPDecoder() }
        )
    }

    static let malformed: [(String, String)] = [
        ("bad type byte", "?OK\r\n"),
        ("RESP3 type byte", "%1\r\n+a\r\n+b\r\n"),
        ("bad bulk length", "$abc\r\nxyz\r\n"),
        ("empty length", "$\r\n\r\n"),
        ("negative bulk length", "$-2\r\n"),
        ("negative array length", "*-5\r\n"),
        ("bulk length with plus", "$+3\r\nabc\r\n"),
        ("integer with junk", ":12a\r\n"),
        ("integer overflow", ":9223372036854775808\r\n"),
        ("integer too many digits", ":00000000000000000001\r\n"),
        ("oversize bulk", "$536870913\r\n"),
        ("oversize array", "*16777217\r\n"),
        ("bulk without CRLF", "$3\r\nabcXY"),
        ("bulk with LF only", "$3\r\nabc\n+OK\r\n"),
        ("CR without LF", "+OK\rX"),
        ("LF without CR", "+OK\n"),
        ("bad element in array", "*2\r\n:1\r\n!x\r\n"),
    ]

    @Test("malformed input throws", arguments: malformed.indices)
    func malformedInput(_ index: Int) {
        let (name, text) = Self.malformed[index]
        var buffer = ByteBuffer(string: text)
        #expect(throws: RESPDecodingError.self, "\(name)") { _ = try RESPParser().parse(&buffer) }
    }

    @Test("nesting and line length are bounded")
    func bounds() {
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: 100) + ":1\r\n")
        #expect(throws: RESPDecodingError.self) { _ = try RESPParser().parse(&deep) }
        var ok = ByteBuffer(string: String(repeating: "*1\r\n", count: 10) + ":1\r\n")
        #expect((try? RESPParser().parse(&ok)) != nil)
        var long = ByteBuffer(string: "+" + String(repeating: "a", count: 70_000))
        #expect(throws: RESPDecodingError.self) { _ = try RESPParser().parse(&long) }
        var small = RESPParser()
        small.maxBulkLength = 4
        var bulk = ByteBuffer(string: "$5\r\nhello\r\n")
        #expect(throws: RESPDecodingError.self) { _ = try small.parse(&bulk) }
    }

    @Test("a malformed reply fails the waiting command and closes the connection")
    func handlerFailsOnMalformed() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(ByteToMessageHandler(RESPDecoder()), RedisCommandHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        let promise = channel.eventLoop.makePromise(of: [RESPValue].self)
        try channel.writeOutbound(RedisRequest(commands: [RedisCommand("PING")], promise: promise, timeout: .seconds(5)))
        let written = try channel.readOutbound(as: ByteBuffer.self)
        #expect(written.map { String(buffer: $0) } == "*1\r\n$4\r\nPING\r\n")
        // The handler consumes the decoding error; whether the pipeline rethrows it does not matter.
        _ = try? channel.writeInbound(ByteBuffer(string: "?garbage\r\n"))
        channel.embeddedEventLoop.run()
        #expect(throws: RedisConnectionError(kind: .protocolViolation)) { try promise.futureResult.wait() }
        #expect(!channel.isActive)
    }

    @Test("pipelined replies are matched to commands in order")
    func handlerMatchesInOrder() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(ByteToMessageHandler(RESPDecoder()), RedisCommandHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        let first = channel.eventLoop.makePromise(of: [RESPValue].self)
        let second = channel.eventLoop.makePromise(of: [RESPValue].self)
        try channel.writeOutbound(RedisRequest(commands: [RedisCommand("GET", "a"), RedisCommand("GET", "b")], promise: first, timeout: .seconds(5)))
        try channel.writeOutbound(RedisRequest(commands: [RedisCommand("PING")], promise: second, timeout: .seconds(5)))
        try channel.writeInbound(ByteBuffer(string: "$1\r\n1\r\n$-1\r\n+PO"))
        try channel.writeInbound(ByteBuffer(string: "NG\r\n"))
        #expect(try first.futureResult.wait() == [.bulkString(Array("1".utf8)), .null])
        #expect(try second.futureResult.wait() == [.simpleString("PONG")])
        _ = try channel.finish()
    }

    @Test("a reply past the timeout fails every pending command and closes")
    func handlerTimesOut() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(ByteToMessageHandler(RESPDecoder()), RedisCommandHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        let first = channel.eventLoop.makePromise(of: [RESPValue].self)
        let second = channel.eventLoop.makePromise(of: [RESPValue].self)
        try channel.writeOutbound(RedisRequest(commands: [RedisCommand("PING")], promise: first, timeout: .seconds(2)))
        try channel.writeOutbound(RedisRequest(commands: [RedisCommand("PING")], promise: second, timeout: .seconds(2)))
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(throws: RedisConnectionError(kind: .timeout)) { try first.futureResult.wait() }
        #expect(throws: RedisConnectionError(kind: .timeout)) { try second.futureResult.wait() }
        #expect(!channel.isActive)
    }

    @Test("commands are encoded as arrays of bulk strings")
    func encoding() {
        var buffer = ByteBuffer()
        RedisCommand(bytes: [Array("SET".utf8), Array("k".utf8), [0, 13, 10, 255]]).encode(into: &buffer)
        #expect(Array(buffer.readableBytesView) == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n".utf8))
    }
}

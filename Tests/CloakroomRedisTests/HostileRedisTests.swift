import CloakroomCore
import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import CloakroomRedis

/// A fake Redis on loopback (a real TCP server, written here: no real Redis misbehaves on cue)
/// that answers every command with `reply`.
final class HostileRedis: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    init(reply: [UInt8]) async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Replier(reply: reply)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func close() async { try? await channel.close() }

    final class Replier: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reply: [UInt8]
        init(reply: [UInt8]) { self.reply = reply }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: reply)), promise: nil)
        }
    }
}

@Suite("A hostile or slow Redis")
struct HostileRedisTests {
    @Test("a reply announcing a 1 GiB bulk string (or 100 MiB, which the old 512 MiB cap waited for) fails the command at once; nothing is buffered")
    func hugeLengthIsRefused() async throws {
        for announced in [1 << 30, 100 << 20] {
            let fake = try await HostileRedis(reply: Array("$\(announced)\r\nxxxx".utf8))
            let store = RedisSessionStore(configuration: RedisConfiguration(port: fake.port, commandTimeout: .seconds(2)))
            let started = ContinuousClock.now
            do {
                _ = try await store.load(key: SecureToken.hash("x"), now: Date())
                Issue.record("a \(announced)-byte reply was accepted")
            } catch let error as StoreError {
                #expect(error.isUnavailable, "\(error)")
            }
            #expect(ContinuousClock.now - started < .seconds(1), "refused when announced, not after a timeout")
            await store.shutdown()
            await fake.close()
        }
    }

    @Test("the caps are configurable: a smaller one refuses a reply the default takes")
    func capsAreConfigurable() throws {
        var decoder = RESPDecoder(parser: RESPParser(maxBulkLength: 4, maxArrayCount: 2))
        var bulk = ByteBuffer(string: "$5\r\nhello\r\n")
        #expect(throws: RESPDecodingError.self) { _ = try decoder.next(&bulk) }
        var decoder2 = RESPDecoder(parser: RESPParser(maxBulkLength: 4, maxArrayCount: 2))
        var array = ByteBuffer(string: "*3\r\n:1\r\n:2\r\n:3\r\n")
        #expect(throws: RESPDecodingError.self) { _ = try decoder2.next(&array) }
        #expect(RedisConfiguration().maxReplyBulkBytes == 8 << 20)
    }

    @Test("an array of 20,000 elements arriving one element per read is parsed with linear work")
    func slowArrayIsLinear() throws {
        let count = 20_000
        var wire: [[UInt8]] = [Array("*\(count)\r\n".utf8)]
        for index in 0..<count { wire.append(Array("$6\r\nk\(String(format: "%05d", index))\r\n".utf8)) }
        let total = wire.reduce(0) { $0 + $1.count }
        var decoder = RESPDecoder()
        var buffer = ByteBuffer()
        var result: RESPValue?
        for (index, chunk) in wire.enumerated() {
            // Each element arrives in two reads, split inside it.
            let cut = chunk.count / 2
            buffer.writeBytes(chunk[..<cut])
            #expect(try decoder.next(&buffer) == nil)
            buffer.writeBytes(chunk[cut...])
            let value = try decoder.next(&buffer)
            if index < wire.count - 1 { #expect(value == nil) } else { result = value }
        }
        guard case .array(let elements) = result else {
            Issue.record("no array")
            return
        }
        #expect(elements.count == count)
        #expect(elements.last == .bulkString(Array("k19999".utf8)))
        // Each byte once, plus each partial element once more: about 1.5x the reply, never the
        // reply's size per read (which was 20,000 x).
        #expect(decoder.bytesExamined <= 2 * total, "\(decoder.bytesExamined) bytes examined for \(total)")
    }
}

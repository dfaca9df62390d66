import CloakroomCore
import CloakroomSessions
import NIOCore
import NIOSSL

/// Commands written to one connection, waiting for their replies.
struct RedisRequest: Sendable {
    /// The commands, written back to back (a pipeline) and flushed once.
    var commands: [RedisCommand]
    /// Completed with one reply per command, in order.
    var promise: EventLoopPromise<[RESPValue]>
    /// How long the replies may take before the connection is abandoned.
    var timeout: TimeAmount
}

/// Why a connection failed a request. The pool maps it to `StoreError.unavailable`.
struct RedisConnectionError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        /// The connection was already closed: nothing was written, so retrying elsewhere is safe.
        case notSent
        /// The connection closed with the request in flight (its effect is unknown).
        case closed
        /// No reply within the command timeout; the connection was closed.
        case timeout
        /// The server sent bytes that are not RESP2, or a reply nobody asked for.
        case protocolViolation
        /// The TLS handshake failed (the certificate was not trusted or does not name the host).
        case tls
    }

    let kind: Kind

    /// The kind a channel error is for a pending request: a TLS failure (swift-nio-ssl or
    /// BoringSSL refused the handshake), a malformed reply, or else a lost connection.
    static func kind(of error: any Error) -> Kind {
        if error is RESPDecodingError || error is ByteToMessageDecoderError { return .protocolViolation }
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError { return .tls }
        return .closed
    }

    var description: String {
        switch kind {
        case .notSent: "redis connection closed"
        case .closed: "redis connection lost"
        case .timeout: "redis command timed out"
        case .protocolViolation: "redis sent a malformed reply"
        case .tls: "the TLS handshake with redis failed: its certificate is not trusted (give ?ca=FILE for a private CA) or does not name the host"
        }
    }
}

/// Writes pipelined commands and matches replies to them in order (Redis answers in order).
///
/// Every request has a deadline. When one passes, its reply can no longer be told apart from later
/// ones, so every pending request fails and the connection closes. A malformed reply, an unexpected
/// reply or the connection closing do the same.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        let promise: EventLoopPromise<[RESPValue]>
        let expected: Int
        var replies: [RESPValue]
        let timer: Scheduled<Void>?
    }

    private var pending: CircularBuffer<Pending> = []
    private var closed = false
    /// Where a reply nobody asked for goes (a subscribed connection's messages); without it such a
    /// reply is a protocol violation and ends the connection.
    private let onPush: (@Sendable (RESPValue) -> Void)?

    init(onPush: (@Sendable (RESPValue) -> Void)? = nil) {
        self.onPush = onPush
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard !closed, context.channel.isActive else {
            request.promise.fail(RedisConnectionError(kind: .notSent))
            promise?.fail(RedisConnectionError(kind: .notSent))
            return
        }
        guard !request.commands.isEmpty else {
            request.promise.succeed([])
            promise?.succeed(())
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        for command in request.commands { command.encode(into: &buffer) }
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: request.timeout) { [weak self] () -> Void in
            guard let self else { return }
            self.fail(context: context, with: RedisConnectionError(kind: .timeout))
        }
        pending.append(Pending(promise: request.promise, expected: request.commands.count, replies: [], timer: timer))
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { [weak self] _ in
            // A failed write leaves replies and requests out of step: give up on the connection.
            self?.fail(context: context, with: RedisConnectionError(kind: .closed))
        }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(buffer), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        guard !pending.isEmpty else {
            if let onPush {
                onPush(reply)
                return
            }
            fail(context: context, with: RedisConnectionError(kind: .protocolViolation))
            return
        }
        pending[pending.startIndex].replies.append(reply)
        guard pending[pending.startIndex].replies.count == pending[pending.startIndex].expected else { return }
        let done = pending.removeFirst()
        done.timer?.cancel()
        done.promise.succeed(done.replies)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, with: RedisConnectionError(kind: RedisConnectionError.kind(of: error)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        failPending(RedisConnectionError(kind: .closed))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closed = true
        failPending(RedisConnectionError(kind: .closed))
    }

    private func fail(context: ChannelHandlerContext, with error: RedisConnectionError) {
        let wasOpen = !closed
        closed = true
        failPending(error)
        if wasOpen { context.close(promise: nil) }
    }

    private func failPending(_ error: RedisConnectionError) {
        while let entry = pending.popFirst() {
            entry.timer?.cancel()
            entry.promise.fail(error)
        }
    }
}

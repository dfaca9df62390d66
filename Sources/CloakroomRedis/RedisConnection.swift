import CloakroomCore
import CloakroomSessions
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// One TCP connection to Redis, authenticated and on the configured database, that pipelines:
/// any number of callers may `send` at once and each gets its own replies.
final class RedisConnection: Sendable {
    let channel: any Channel
    let timeout: TimeAmount

    private init(channel: any Channel, timeout: TimeAmount) {
        self.channel = channel
        self.timeout = timeout
    }

    /// Whether the socket is still open.
    var isActive: Bool { channel.isActive }

    /// Connects, then sends `AUTH` and `SELECT` as configured.
    ///
    /// Throws `StoreError.unavailable` with no secret in its message.
    static func connect(configuration: RedisConfiguration, group: any EventLoopGroup) async throws -> RedisConnection {
        switch await open(configuration: configuration, group: group) {
        case .connected(let connection): return connection
        case .unreachable(let reason), .refused(let reason): throw StoreError.unavailable(reason)
        }
    }

    /// How opening a connection went: connected, not reached (refused, timed out, dropped: it
    /// may work later), or refused by Redis itself (`AUTH` or `SELECT` said no: retrying will not
    /// help). Reasons hold no secret.
    enum OpenOutcome {
        case connected(RedisConnection)
        case unreachable(String)
        case refused(String)
    }

    /// Connects, then sends `AUTH` and `SELECT` as configured, telling the two kinds of failure apart.
    /// With `onPush`, replies that answer no request (a subscription's messages) go there.
    static func open(
        configuration: RedisConfiguration,
        group: any EventLoopGroup,
        onPush: (@Sendable (RESPValue) -> Void)? = nil
    ) async -> OpenOutcome {
        let timeout = TimeAmount(configuration.commandTimeout)
        let parser = RESPParser(maxBulkLength: configuration.maxReplyBulkBytes, maxArrayCount: configuration.maxReplyArrayCount)
        let channel: any Channel
        let tlsContext: NIOSSLContext?
        if let tls = configuration.tls {
            do {
                tlsContext = try NIOSSLContext(configuration: tls.configuration)
            } catch {
                return .refused("cannot set up TLS for redis: \(error)")
            }
        } else {
            tlsContext = nil
        }
        // Completed when the TLS handshake is (nil without TLS).
        let handshake = configuration.tls.map { _ in group.any().makePromise(of: Void.self) }
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tlsContext {
                            // The name for SNI and verification; an address is verified against
                            // the certificate's IP addresses instead.
                            let name = IPAddressRange.bytes(of: configuration.host) == nil ? configuration.host : nil
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: name))
                            if let handshake { try channel.pipeline.syncOperations.addHandler(TLSHandshakeWatcher(promise: handshake)) }
                        }
                        try channel.pipeline.syncOperations.addHandlers(
                            ByteToMessageHandler(RESPDecoder(parser: parser), maximumBufferSize: parser.maxBulkLength + 1024),
                            RedisCommandHandler(onPush: onPush)
                        )
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            handshake?.fail(RedisConnectionError(kind: .notSent))
            return .unreachable("cannot connect to redis")
        }
        if let handshake {
            do {
                try await handshake.futureResult.get()
            } catch let error as RedisConnectionError where error.kind == .tls {
                // A certificate that is not trusted will not become trusted by retrying.
                channel.close(promise: nil)
                return .refused(error.description)
            } catch {
                channel.close(promise: nil)
                return .unreachable("redis closed the connection during the TLS handshake")
            }
        }
        let connection = RedisConnection(channel: channel, timeout: timeout)
        var setup: [RedisCommand] = []
        if let password = configuration.password {
            if let username = configuration.username {
                setup.append(RedisCommand("AUTH", username, password))
            } else {
                setup.append(RedisCommand("AUTH", password))
            }
        }
        if configuration.database != 0 {
            setup.append(RedisCommand("SELECT", String(configuration.database)))
        }
        guard !setup.isEmpty else { return .connected(connection) }
        do {
            let replies = try await connection.send(setup)
            for (command, reply) in zip(setup, replies) where reply.errorCode != nil {
                connection.close()
                return .refused(command.name == "AUTH" ? "redis authentication failed" : "redis SELECT failed")
            }
            return .connected(connection)
        } catch let error as RedisConnectionError {
            connection.close()
            // A certificate that is not trusted will not become trusted by retrying.
            return error.kind == .tls ? .refused(error.description) : .unreachable(error.description)
        } catch {
            connection.close()
            return .unreachable("redis did not answer AUTH or SELECT")
        }
    }

    /// Sends the commands back to back and returns their replies in order. Error replies are
    /// values (`.error`); transport failures throw `RedisConnectionError`.
    func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        let promise = channel.eventLoop.makePromise(of: [RESPValue].self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        // A write that never reaches the handler (channel already torn down) must still finish.
        written.futureResult.whenFailure { _ in promise.fail(RedisConnectionError(kind: .notSent)) }
        channel.writeAndFlush(RedisRequest(commands: commands, promise: promise, timeout: timeout), promise: written)
        return try await promise.futureResult.get()
    }

    /// Completes when the socket has closed.
    var closed: EventLoopFuture<Void> { channel.closeFuture }

    /// Closes the socket; requests in flight fail.
    func close() {
        channel.close(promise: nil)
    }

    /// Closes the socket and waits until it is closed.
    func closeAndWait() async {
        try? await channel.close().get()
    }
}

/// Completes `promise` when the TLS handshake does, or fails it with `RedisConnectionError(.tls)`
/// when the handshake fails (the connection closing first fails it as `.closed`). Then gets out
/// of the way.
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let promise: EventLoopPromise<Void>
    private var done = false

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    private func finish(_ result: Result<Void, RedisConnectionError>) {
        guard !done else { return }
        done = true
        promise.completeWith(result.mapError { $0 as any Error })
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            finish(.success(()))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(RedisConnectionError(kind: RedisConnectionError.kind(of: error) == .tls ? .tls : .closed)))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(RedisConnectionError(kind: .closed)))
        context.fireChannelInactive()
    }
}

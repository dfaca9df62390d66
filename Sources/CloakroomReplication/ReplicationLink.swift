public import Logging
public import NIOCore
import NIOExtras
public import NIOPosix
import Synchronization

/// One authenticated, sealed replication connection to a peer (one per pair of nodes, kept open).
///
/// On the wire every message is a frame: a 4-byte big-endian length, then the bytes. The first
/// frames are the handshake (`PeerHandshake`); every later one is sealed (`FrameSealer`). A frame
/// that is replayed, reordered, altered, forged or longer than `maximumFrameBytes` is refused: it
/// is logged, nothing of it is delivered, and the connection closes.
public final class ReplicationLink: Sendable {
    /// The peer, as it proved itself in the handshake.
    public let peer: PeerIdentity
    /// Payloads from the peer, in the order sent. Ends when the connection closes; ends with a
    /// `PeerHandshake.Refusal` when a frame was refused.
    public let frames: AsyncThrowingStream<[UInt8], any Error>
    private let outgoing: AsyncStream<[UInt8]>.Continuation
    private let channel: any Channel

    /// The longest frame accepted (1 MiB): a peer cannot make a node buffer more.
    public static let maximumFrameBytes = 1 << 20
    /// How long the handshake may take before the connection is dropped.
    public static let handshakeTimeout = TimeAmount.seconds(5)

    init(peer: PeerIdentity, frames: AsyncThrowingStream<[UInt8], any Error>, outgoing: AsyncStream<[UInt8]>.Continuation, channel: any Channel) {
        self.peer = peer
        self.frames = frames
        self.outgoing = outgoing
        self.channel = channel
    }

    /// Queues `payload` to be sealed and sent after everything queued before it; false when the
    /// link is closed.
    @discardableResult
    public func send(_ payload: [UInt8]) -> Bool {
        if case .enqueued = outgoing.yield(payload) { return true }
        return false
    }

    /// Closes the connection; `frames` ends.
    public func close() {
        outgoing.finish()
        channel.close(promise: nil)
    }

    /// Completes when the connection has closed.
    public var closed: EventLoopFuture<Void> { channel.closeFuture }

    /// Connects to a peer and runs the handshake as its initiator; throws `PeerHandshake.Refusal`
    /// when the peer cannot prove it holds `secret` (or refuses this node), or a connection error.
    public static func connect(
        host: String,
        port: Int,
        secret: ClusterSecret,
        identity: PeerIdentity,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "cloakroom.replication")
    ) async throws -> ReplicationLink {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try framed(channel) }
            }
        return try await withCheckedThrowingContinuation { continuation in
            Task {
                await run(channel, role: .initiator, secret: secret, identity: identity, logger: logger) { outcome in
                    continuation.resume(with: outcome)
                }
            }
        }
    }

    // MARK: - One connection

    static func framed(_ channel: any Channel) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(
                LengthFieldBasedFrameDecoder(lengthFieldBitLength: .fourBytes),
                maximumBufferSize: maximumFrameBytes + 4
            ),
            LengthFieldPrepender(lengthFieldBitLength: .fourBytes)
        )
        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
    }

    /// Runs one connection to its end: the handshake (the outcome goes to `ready` once: the link,
    /// or why there is none), then the writer and reader until either side stops.
    static func run(
        _ asyncChannel: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        role: PeerHandshake.Role,
        secret: ClusterSecret,
        identity: PeerIdentity,
        logger: Logger,
        ready: @escaping @Sendable (Result<ReplicationLink, any Error>) -> Void
    ) async {
        let channel = asyncChannel.channel
        let remote = channel.remoteAddress.map { "\($0)" } ?? "?"
        let reported = Once()
        let report: @Sendable (Result<ReplicationLink, any Error>) -> Void = { outcome in
            if reported.first() { ready(outcome) }
        }
        // A peer that never finishes the handshake is dropped.
        let timer = channel.eventLoop.scheduleTask(in: handshakeTimeout) { channel.close(promise: nil) }
        do {
            try await asyncChannel.executeThenClose { inbound, outbound in
                var incoming = inbound.makeAsyncIterator()
                func next() async throws -> [UInt8] {
                    guard var buffer = try await incoming.next() else { throw PeerHandshake.Refusal("the connection closed during the handshake") }
                    return buffer.readBytes(length: buffer.readableBytes) ?? []
                }
                func write(_ bytes: [UInt8]) async throws { try await outbound.write(ByteBuffer(bytes: bytes)) }

                let mine = PeerHandshake.Hello.fresh(identity)
                let theirs: PeerHandshake.Hello
                let transcript: [UInt8]
                switch role {
                case .initiator:
                    try await write(mine.encoded)
                    theirs = try PeerHandshake.Hello(decoding: try await next())
                    transcript = PeerHandshake.transcript(mine, theirs)
                    guard PeerHandshake.verify(try await next(), secret, role: .responder, transcript: transcript) else {
                        throw PeerHandshake.Refusal("the peer could not prove it holds the cluster secret")
                    }
                    try await write(PeerHandshake.proof(secret, role: .initiator, transcript: transcript))
                case .responder:
                    theirs = try PeerHandshake.Hello(decoding: try await next())
                    transcript = PeerHandshake.transcript(theirs, mine)
                    try await write(mine.encoded)
                    try await write(PeerHandshake.proof(secret, role: .responder, transcript: transcript))
                    guard PeerHandshake.verify(try await next(), secret, role: .initiator, transcript: transcript) else {
                        throw PeerHandshake.Refusal("the peer could not prove it holds the cluster secret")
                    }
                }
                timer.cancel()
                let keys = PeerHandshake.keys(secret, role: role, transcript: transcript)
                let (frames, deliver) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
                let (queue, outgoing) = AsyncStream<[UInt8]>.makeStream()
                let link = ReplicationLink(peer: theirs.identity, frames: frames, outgoing: outgoing, channel: channel)
                report(.success(link))

                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // One writer: frames leave in the order they were sealed.
                        var sealer = FrameSealer(key: keys.sending)
                        for await payload in queue {
                            guard let frame = try? sealer.seal(payload) else { break }
                            do { try await outbound.write(ByteBuffer(bytes: frame)) } catch { break }
                        }
                        channel.close(promise: nil)
                    }
                    var opener = FrameOpener(key: keys.receiving)
                    do {
                        while let buffer = try await incoming.next() {
                            let payload = try opener.open(Array(buffer.readableBytesView))
                            deliver.yield(payload)
                        }
                        deliver.finish()
                    } catch let refusal as PeerHandshake.Refusal {
                        logger.warning(
                            "replication frame refused; connection closed",
                            metadata: ["peer": "\(theirs.identity)", "remote": "\(remote)", "reason": "\(refusal)"]
                        )
                        deliver.finish(throwing: refusal)
                    } catch {
                        deliver.finish()
                    }
                    outgoing.finish()
                    channel.close(promise: nil)
                }
            }
        } catch {
            timer.cancel()
            if error is PeerHandshake.Refusal {
                logger.warning("replication handshake refused", metadata: ["remote": "\(remote)", "reason": "\(error)"])
            }
            report(.failure(error is PeerHandshake.Refusal ? error : PeerHandshake.Refusal("the connection closed during the handshake")))
        }
        report(.failure(PeerHandshake.Refusal("the connection closed during the handshake")))
    }
}

/// Accepts replication connections from peers: each one that completes the handshake is handed
/// to `onLink`; one that does not is refused, logged and closed.
public final class ReplicationListener: Sendable {
    /// The port it listens on (useful when asked for port 0).
    public let port: Int
    private let channel: any Channel
    private let task: Task<Void, Never>

    private init(port: Int, channel: any Channel, task: Task<Void, Never>) {
        self.port = port
        self.channel = channel
        self.task = task
    }

    /// Listens on `host:port` (0: any free port).
    public static func start(
        host: String,
        port: Int,
        secret: ClusterSecret,
        identity: PeerIdentity,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "cloakroom.replication"),
        onLink: @escaping @Sendable (ReplicationLink) async -> Void
    ) async throws -> ReplicationListener {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try ReplicationLink.framed(channel) }
            }
        let listening = server.channel
        let boundPort = listening.localAddress?.port ?? port
        let task = Task<Void, Never> {
            _ = try? await server.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            group.addTask {
                                await ReplicationLink.run(connection, role: .responder, secret: secret, identity: identity, logger: logger) {
                                    outcome in
                                    guard case .success(let link) = outcome else { return }
                                    Task { await onLink(link) }
                                }
                            }
                        }
                    } catch {}
                }
            }
        }
        return ReplicationListener(port: boundPort, channel: listening, task: task)
    }

    /// Stops accepting; links already made stay open until closed.
    public func close() async {
        try? await channel.close()
        task.cancel()
    }
}

/// True the first time `first()` is called, false after.
final class Once: Sendable {
    private let done = Mutex(false)

    func first() -> Bool {
        done.withLock { done in
            defer { done = true }
            return !done
        }
    }
}

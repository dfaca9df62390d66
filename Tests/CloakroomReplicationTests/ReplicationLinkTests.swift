import CloakroomCore
import CloakroomTesting
import Crypto
import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import Synchronization
import Testing

@testable import CloakroomReplication

/// The replication transport (issue 13): a real TCP handshake between two endpoints on loopback,
/// then sealed frames. A node without the cluster secret, a replayed frame and an altered one are
/// refused, logged, and deliver nothing.
@Suite("Replication link")
struct ReplicationLinkTests {
    static var secret: ClusterSecret {
        get throws { try ClusterSecret(bytes: Array(repeating: 7, count: 32)) }
    }

    @Test("sealed frames open in order; a replayed, reordered, altered or foreign frame is refused and the count does not move")
    func frames() throws {
        let key = SymmetricKeyMaker.key(1)
        var sealer = FrameSealer(key: key)
        var opener = FrameOpener(key: key)
        let first = try sealer.seal(Array("one".utf8))
        let second = try sealer.seal(Array("two".utf8))
        let third = try sealer.seal(Array("three".utf8))
        #expect(try opener.open(first) == Array("one".utf8))
        #expect(throws: PeerHandshake.Refusal.self) { try opener.open(first) }  // replayed
        #expect(throws: PeerHandshake.Refusal.self) { try opener.open(third) }  // out of order
        var altered = second
        altered[altered.count - 20] ^= 1
        #expect(throws: PeerHandshake.Refusal.self) { try opener.open(altered) }
        var foreign = FrameSealer(key: SymmetricKeyMaker.key(2))
        _ = try foreign.seal([])
        #expect(throws: PeerHandshake.Refusal.self) { try opener.open(try foreign.seal(Array("two".utf8))) }
        #expect(opener.sequence == 1, "no refused frame moved the sequence")
        #expect(try opener.open(second) == Array("two".utf8))
        #expect(try opener.open(third) == Array("three".utf8))
        // The sequence is on the wire in the clear and authenticated: rewriting it breaks the tag.
        var renumbered = try sealer.seal(Array("four".utf8))
        renumbered[7] = 9
        #expect(throws: PeerHandshake.Refusal.self) { try opener.open(renumbered) }
    }

    @Test("two nodes holding the secret: each proves itself, and 500 frames each way arrive in order")
    func handshake() async throws {
        let accepted = Mutex<[ReplicationLink]>([])
        let listener = try await ReplicationListener.start(
            host: "127.0.0.1",
            port: 0,
            secret: try Self.secret,
            identity: PeerIdentity(nodeID: "node1")
        ) { link in
            accepted.withLock { $0.append(link) }
        }
        let me = PeerIdentity(nodeID: "node2")
        let link = try await ReplicationLink.connect(host: "127.0.0.1", port: listener.port, secret: try Self.secret, identity: me)
        #expect(link.peer.nodeID == "node1")
        let server = try await Self.eventually { accepted.withLock { $0.first } }
        #expect(server.peer == me, "the listener learned the initiator's name and incarnation")
        for index in 0..<500 {
            link.send(Array("c\(index)".utf8))
            server.send(Array("s\(index)".utf8))
        }
        // A watchdog: should frames go missing, the streams still end (and the test fails, not hangs).
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            link.close()
            server.close()
        }
        defer { watchdog.cancel() }
        var fromClient: [String] = []
        for try await frame in server.frames {
            fromClient.append(String(decoding: frame, as: UTF8.self))
            if fromClient.count == 500 { break }
        }
        var fromServer: [String] = []
        for try await frame in link.frames {
            fromServer.append(String(decoding: frame, as: UTF8.self))
            if fromServer.count == 500 { break }
        }
        #expect(fromClient == (0..<500).map { "c\($0)" })
        #expect(fromServer == (0..<500).map { "s\($0)" })
        link.close()
        server.close()
        await listener.close()
    }

    @Test("a node without the secret is refused both ways, logged, and never becomes a link")
    func outsider() async throws {
        let logs = LogCapture()
        let accepted = Mutex(0)
        let listener = try await ReplicationListener.start(
            host: "127.0.0.1",
            port: 0,
            secret: try Self.secret,
            identity: PeerIdentity(nodeID: "node1"),
            logger: logs.logger
        ) { _ in accepted.withLock { $0 += 1 } }
        let other = try ClusterSecret(bytes: Array(repeating: 8, count: 32))
        await #expect(throws: PeerHandshake.Refusal.self) {
            _ = try await ReplicationLink.connect(host: "127.0.0.1", port: listener.port, secret: other, identity: PeerIdentity(nodeID: "intruder"))
        }
        // And the other way round: a listener without the secret cannot pass itself off as a peer.
        let impostor = try await ReplicationListener.start(host: "127.0.0.1", port: 0, secret: other, identity: PeerIdentity(nodeID: "impostor")) {
            _ in
        }
        await #expect(throws: PeerHandshake.Refusal.self) {
            _ = try await ReplicationLink.connect(
                host: "127.0.0.1",
                port: impostor.port,
                secret: try Self.secret,
                identity: PeerIdentity(nodeID: "node2")
            )
        }
        // Bytes that are no handshake at all.
        let raw = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: listener.port).get()
        try await raw.writeAndFlush(ByteBuffer(bytes: [0, 0, 0, 4, 1, 2, 3, 4])).get()
        try await raw.closeFuture.get()
        try await Task.sleep(for: .milliseconds(200))
        #expect(accepted.withLock { $0 } == 0)
        #expect(logs.lines.withLock { $0 }.filter { $0.contains("replication handshake refused") }.count >= 2, "\(logs.text)")
        await listener.close()
        await impostor.close()
    }

    @Test("a frame replayed or altered on the wire is refused, logged, not delivered, and the connection closes")
    func tampering() async throws {
        for mode in [Relay.Mode.replay, .alter] {
            let logs = LogCapture()
            let accepted = Mutex<[ReplicationLink]>([])
            let listener = try await ReplicationListener.start(
                host: "127.0.0.1",
                port: 0,
                secret: try Self.secret,
                identity: PeerIdentity(nodeID: "node1"),
                logger: logs.logger
            ) { link in accepted.withLock { $0.append(link) } }
            let relay = try await Relay.start(to: listener.port, mode: mode)
            let link = try await ReplicationLink.connect(
                host: "127.0.0.1",
                port: relay.port,
                secret: try Self.secret,
                identity: PeerIdentity(nodeID: "node2")
            )
            let server = try await Self.eventually { accepted.withLock { $0.first } }
            // Handshake frames 0 and 1 go through untouched; the relay tampers with the second sealed one.
            for index in 0..<4 { link.send(Array("w\(index)".utf8)) }
            // A watchdog: should the tampered frame be accepted, the stream still ends (and the test fails, not hangs).
            let watchdog = Task {
                try await Task.sleep(for: .seconds(5))
                server.close()
            }
            defer { watchdog.cancel() }
            var delivered: [String] = []
            var refusal: (any Error)?
            do {
                for try await frame in server.frames { delivered.append(String(decoding: frame, as: UTF8.self)) }
            } catch {
                refusal = error
            }
            #expect(delivered == ["w0", "w1"] || (mode == .alter && delivered == ["w0"]), "\(mode): \(delivered)")
            let reason = "\(refusal.map { "\($0)" } ?? "none")"
            #expect(reason.contains(mode == .replay ? "replayed" : "does not authenticate"), "\(mode): \(reason)")
            #expect(logs.lines.withLock { $0 }.contains { $0.contains("replication frame refused") }, "\(logs.text)")
            try await server.closed.get()  // the refusing side closed the connection
            link.close()
            await relay.close()
            await listener.close()
        }
    }

    @Test("cluster secret files: base64url of 32+ bytes, owner-only; anything else is refused with a reason")
    func secretFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ text: String, mode: Int) throws -> URL {
            let file = folder.appendingPathComponent(UUID().uuidString)
            try text.write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path)
            return file
        }
        let generated = ClusterSecret.generate()
        _ = try ClusterSecret.load(file: try write(generated, mode: 0o600))
        for (text, mode, reason) in [
            (generated, 0o644, "readable by others"),
            ("too short\n", 0o600, "base64url"),
            (SecureToken(byteCount: 16).text, 0o600, "at least 32 bytes"),
        ] {
            do {
                _ = try ClusterSecret.load(file: try write(text, mode: mode))
                Issue.record("accepted \(reason)")
            } catch {
                #expect("\(error)".contains(reason), "\(error)")
                #expect(!"\(error)".contains(generated.trimmingCharacters(in: .whitespacesAndNewlines)), "the secret is never in a message")
            }
        }
    }

    /// Polls `value` until it is non-nil (at most 5 s).
    @discardableResult
    static func eventually<T>(_ value: () -> T?) async throws -> T {
        for _ in 0..<500 {
            if let found = value() { return found }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CancellationError()
    }
}

enum SymmetricKeyMaker {
    static func key(_ byte: UInt8) -> SymmetricKey { SymmetricKey(data: Array(repeating: byte, count: 32)) }
}

/// A man in the middle on loopback: passes whole frames between a client and the real listener,
/// and replays or alters the client's fourth frame (its second sealed one).
final class Relay: Sendable {
    enum Mode: Sendable { case replay, alter }
    let port: Int
    private let server: any Channel

    private init(port: Int, server: any Channel) {
        self.port = port
        self.server = server
    }

    static func start(to target: Int, mode: Mode) async throws -> Relay {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { try ReplicationLink.framed(channel) }
            }
        let task = Task {
            try? await server.executeThenClose { clients in
                for try await client in clients {
                    let upstream = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: target) { channel in
                        channel.eventLoop.makeCompletedFuture { try ReplicationLink.framed(channel) }
                    }
                    Task {
                        try? await client.executeThenClose { clientIn, clientOut in
                            try await upstream.executeThenClose { upIn, upOut in
                                try await withThrowingTaskGroup(of: Void.self) { group in
                                    group.addTask {
                                        var index = 0
                                        for try await frame in clientIn {
                                            if index == 3 && mode == .replay {
                                                try await upOut.write(frame)
                                                try await upOut.write(frame)
                                            } else if index == 3 {
                                                var bytes = Array(frame.readableBytesView)
                                                bytes[bytes.count - 1] ^= 0x40
                                                try await upOut.write(ByteBuffer(bytes: bytes))
                                            } else {
                                                try await upOut.write(frame)
                                            }
                                            index += 1
                                        }
                                    }
                                    group.addTask {
                                        for try await frame in upIn { try await clientOut.write(frame) }
                                    }
                                    try await group.next()
                                    group.cancelAll()
                                }
                            }
                        }
                    }
                }
            }
        }
        _ = task
        return Relay(port: server.channel.localAddress?.port ?? 0, server: server.channel)
    }

    func close() async { try? await server.close() }
}

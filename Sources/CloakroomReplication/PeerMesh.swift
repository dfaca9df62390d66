import CloakroomCore
import CoreMetrics
import Dispatch
public import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The links from one node to each of its peers, and who is alive.
///
/// - Every node dials every peer address it is given (and accepts peers that dial it, such as a
///   node added later), and keeps one link per pair: when both directions connect, the one the
///   node with the smaller name opened. A lost link is dialled again, backing off from 250 ms to 2 s.
/// - Every 250 ms each link carries a heartbeat; a peer heard nothing from for 3 beats is down:
///   its link is closed, and writes stop waiting for it.
/// - A message can ask for an acknowledgement: `broadcast(wait:)` returns when every live peer
///   has applied it, or when `ackTimeout` passes (then it says how many did not answer).
public actor PeerMesh {
    /// Where a peer listens.
    public struct Address: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }
    }

    /// Everything a mesh needs; `Sendable` and defaulted, as every configuration here.
    public struct Configuration: Sendable {
        public var identity: PeerIdentity
        public var secret: ClusterSecret
        /// The replication listener's address (port 0: any free port).
        public var host: String
        public var port: Int
        public var peers: [Address]
        public var heartbeat: Duration = .milliseconds(250)
        public var missedBeats = 3
        /// How long an acknowledged write waits for peers before it goes on without them.
        public var ackTimeout: Duration = .seconds(1)
        /// How long a chunk of up to 256 sessions (catching up, new backups) waits for its
        /// acknowledgement: applying one takes longer than one write, and a peer that is gone
        /// ends the wait anyway when its link drops.
        public var bulkAckTimeout: Duration = .seconds(15)

        public init(identity: PeerIdentity, secret: ClusterSecret, host: String = "127.0.0.1", port: Int, peers: [Address]) {
            self.identity = identity
            self.secret = secret
            self.host = host
            self.port = port
            self.peers = peers
        }
    }

    /// What the node is told: a message from a peer (by name), that a peer's link came up, or
    /// that this process itself was stopped (hung, or starved of CPU) for longer than a peer may be
    /// silent: what it holds may be stale.
    enum Event: Sendable {
        case message(ReplicationMessage, from: String)
        /// `afterIsolation`: this node had no link at all when this one came up (it was cut off, or
        /// every peer was gone), decided when the link was adopted.
        case linkUp(String, afterIsolation: Bool)
        /// The peer's link is gone (closed, or silent for the missed beats).
        case linkDown(String)
        case resumed(after: Duration)
    }

    private struct Pending {
        /// The message, sent again on a link that replaces the one it went out on.
        var payload: [UInt8]
        var waitingFor: Set<String>
        /// Peers whose link went down before they acknowledged.
        var cutOff: Set<String> = []
        var continuation: CheckedContinuation<Set<String>, Never>
    }

    public nonisolated let configuration: Configuration
    /// When the heartbeat loop last ran, readable without a hop to this actor: a load checks that
    /// this process was not stopped (SIGSTOP, a pause) for longer than peers wait, before the
    /// loop itself notices.
    nonisolated let pulse = Pulse()

    /// Whether this process was stopped for longer than peers wait and has not noticed yet:
    /// what it holds may be stale.
    nonisolated var wasStopped: Bool { pulse.isStale(configuration.heartbeat * configuration.missedBeats) }
    /// How long a link that went down may take to come back when it was only replaced (both
    /// sides dialled; the pair keeps one) or cut for a moment: two heartbeats. A peer still gone
    /// after it is gone.
    nonisolated var comebackGrace: Duration { configuration.heartbeat * 2 }
    private let logger: Logger
    private var links: [String: ReplicationLink] = [:]
    /// Whether each peer's link was opened by the smaller of the two names.
    private var linkIsCanonical: [String: Bool] = [:]
    private var lastHeard: [String: ContinuousClock.Instant] = [:]
    /// When each peer whose link is down lost it.
    private var lostAt: [String: ContinuousClock.Instant] = [:]
    /// Every peer ever linked, by name, with the incarnation it had last.
    private var incarnations: [String: [UInt8]] = [:]
    /// Peers whose links are refused until a time (`cut`, for tests).
    private var refused: [String: ContinuousClock.Instant] = [:]
    private var names: [Address: String] = [:]
    private var pending: [UInt64: Pending] = [:]
    private var nextAck: UInt64 = 1
    private var listener: ReplicationListener?
    private var tasks: [Task<Void, Never>] = []
    private var readers: [String: Task<Void, Never>] = [:]
    private var stopped = false
    private var onEvent: (@Sendable (Event) async -> Void)?
    /// Acknowledged writes that went on without some peer (`ackTimeout` passed).
    public private(set) var unacknowledgedWrites = 0
    /// Messages and bytes sent and received (heartbeats included), for benchmarks and status.
    public private(set) var sentTraffic = (messages: 0, bytes: 0)
    public private(set) var receivedTraffic = (messages: 0, bytes: 0)
    private var metrics: ReplicationMetrics?

    /// Counts what the mesh does on `metrics` from now on.
    func attach(_ metrics: ReplicationMetrics) {
        self.metrics = metrics
        metrics.peers.record(links.count)
        for peer in links.keys { metrics.peer(peer, isUp: true) }
    }

    /// Sends `payload` on `link`, counted.
    private func transmit(_ payload: [UInt8], on link: ReplicationLink) {
        // The peer would refuse a longer frame and close the link: a message must never do that.
        guard payload.count <= ReplicationLink.maximumFrameBytes - 256 else {
            logger.error("replication: a message too large for one frame was not sent", metadata: ["bytes": "\(payload.count)"])
            return
        }
        guard link.send(payload) else { return }
        sentTraffic.messages += 1
        sentTraffic.bytes += payload.count
        metrics?.messagesSent.increment()
        metrics?.bytesSent.increment(by: payload.count)
    }

    public init(configuration: Configuration, logger: Logger = Logger(label: "cloakroom.replication")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The port the listener is on.
    public var port: Int { listener?.port ?? configuration.port }

    /// The names of the peers whose link is up.
    public var livePeers: [String] { links.keys.sorted() }

    /// The incarnation `peer` had when its link last came up (a new one: it restarted).
    func incarnation(of peer: String) -> [UInt8]? { incarnations[peer] }

    /// Starts listening, dialling and beating; `onEvent` gets every message and link.
    func start(onEvent: @escaping @Sendable (Event) async -> Void) async throws {
        self.onEvent = onEvent
        listener = try await ReplicationListener.start(
            host: configuration.host,
            port: configuration.port,
            secret: configuration.secret,
            identity: configuration.identity,
            logger: logger
        ) { [weak self] link in
            await self?.adopt(link, dialled: false)
        }
        for address in configuration.peers {
            tasks.append(Task { [weak self] in await self?.dial(address) })
        }
        tasks.append(Task { [weak self] in await self?.beat() })
    }

    /// Closes every link and stops; pending writes return at once.
    public func stop() async {
        stopped = true
        for task in tasks { task.cancel() }
        tasks = []
        for reader in readers.values { reader.cancel() }
        readers = [:]
        for link in links.values { link.close() }
        links = [:]
        for (id, _) in pending { resolve(id) }
        await listener?.close()
    }

    /// Sends `message(ackID)` to every live peer. With `wait`, returns once each has acknowledged
    /// it or `ackTimeout` has passed. Returns the peers it may not have reached: with `wait`,
    /// those that did not acknowledge, and always, those ever linked whose link is down now.
    @discardableResult
    func broadcast(wait: Bool, _ message: (UInt64) -> ReplicationMessage) async -> Set<String> {
        let targets = Set(links.keys)
        let down = Set(incarnations.keys).subtracting(targets)
        guard !targets.isEmpty else { return down }
        let id = wait ? nextAckID() : 0
        let payload = message(id).encoded
        for name in targets {
            if let link = links[name] { transmit(payload, on: link) }
        }
        guard wait else { return down }
        return await awaitAcks(id, payload: payload, from: targets, timeout: configuration.ackTimeout).union(down)
    }

    /// Sends `message(ackID)` to one peer; with `wait`, returns whether it acknowledged in time.
    @discardableResult
    func send(to peer: String, wait: Bool, bulk: Bool = false, _ message: (UInt64) -> ReplicationMessage) async -> Bool {
        guard let link = links[peer] else { return false }
        let id = wait ? nextAckID() : 0
        let payload = message(id).encoded
        transmit(payload, on: link)
        guard wait else { return true }
        let timeout = bulk ? max(configuration.bulkAckTimeout, configuration.ackTimeout) : configuration.ackTimeout
        return await awaitAcks(id, payload: payload, from: [peer], timeout: timeout).isEmpty
    }

    /// Whether a peer's link went down less than `comebackGrace` ago and is not back: a link
    /// being replaced or cut for a moment. That peer may hold what this node finds nowhere else.
    func lostRecently() -> Bool {
        let now = ContinuousClock.now
        lostAt = lostAt.filter { now - $0.value < comebackGrace }
        return !lostAt.isEmpty
    }

    /// Closes the link to `peer` and refuses it for `duration`, as a cut between two nodes alone
    /// would be; for tests.
    func cut(_ peer: String, for duration: Duration) {
        refused[peer] = ContinuousClock.now + duration
        if let link = links[peer] {
            link.close()
            lost(link, peer: peer)
        }
    }

    /// Closes every link now, as a network cut would (the diallers connect again); for tests.
    func disconnectAll() {
        for (peer, link) in links {
            link.close()
            lost(link, peer: peer)
        }
    }

    // MARK: - Links

    private func nextAckID() -> UInt64 {
        defer { nextAck += 1 }
        return nextAck
    }

    /// The targets that did not acknowledge `id` (in time, or before their link went down).
    private func awaitAcks(_ id: UInt64, payload: [UInt8], from targets: Set<String>, timeout: Duration) async -> Set<String> {
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.resolve(id)
        }
        let started = ContinuousClock.now
        let missing = await withCheckedContinuation { continuation in
            pending[id] = Pending(payload: payload, waitingFor: targets, continuation: continuation)
        }
        timer.cancel()
        metrics?.ackWait.recordNanoseconds((ContinuousClock.now - started).wholeNanoseconds)
        return missing
    }

    private func resolve(_ id: UInt64) {
        guard let done = pending.removeValue(forKey: id) else { return }
        if !done.waitingFor.isEmpty {
            // The time ran out (or the mesh stopped) before a live peer answered.
            unacknowledgedWrites += 1
            metrics?.unacknowledged.increment()
        }
        done.continuation.resume(returning: done.waitingFor.union(done.cutOff))
    }

    /// `peer`'s link closed: what it did not acknowledge on it, it may not have received, and its
    /// acknowledgement will not come.
    private func giveUpAcks(from peer: String) {
        for id in pending.keys where pending[id]?.waitingFor.contains(peer) == true {
            pending[id]?.cutOff.insert(peer)
            acknowledged(id, by: peer)
        }
    }

    private func acknowledged(_ id: UInt64, by peer: String) {
        pending[id]?.waitingFor.remove(peer)
        if pending[id]?.waitingFor.isEmpty == true { resolve(id) }
    }

    private func dial(_ address: Address) async {
        var delay = Duration.milliseconds(250)
        while !stopped && !Task.isCancelled {
            if let name = names[address], links[name] != nil {
                // Up already.
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            do {
                let link = try await ReplicationLink.connect(
                    host: address.host,
                    port: address.port,
                    secret: configuration.secret,
                    identity: configuration.identity,
                    logger: logger
                )
                names[address] = link.peer.nodeID
                adopt(link, dialled: true)
                delay = .milliseconds(250)
            } catch {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// Keeps `link` as the pair's one link unless the pair has one already that the node with the
    /// smaller name opened (both sides apply the same rule, so they keep the same link).
    private func adopt(_ link: ReplicationLink, dialled: Bool) {
        let mine = configuration.identity.nodeID
        let peer = link.peer.nodeID
        let canonical = dialled ? mine < peer : peer < mine
        guard peer != mine, !stopped, canonical || links[peer] == nil || linkIsCanonical[peer] != true,
            refused[peer].map({ ContinuousClock.now >= $0 }) ?? true
        else {
            link.close()
            return
        }
        let afterIsolation = links.isEmpty
        let replaced = links[peer]
        replaced?.close()
        linkIsCanonical[peer] = canonical
        links[peer] = link
        lostAt[peer] = nil
        if replaced != nil {
            // What went out on the replaced link and is not acknowledged may never arrive (its
            // peer closed it): sent again on this one, first; applying it twice changes nothing.
            for (_, waiting) in pending.sorted(by: { $0.key < $1.key }) where waiting.waitingFor.contains(peer) {
                transmit(waiting.payload, on: link)
            }
        }
        metrics?.peers.record(links.count)
        metrics?.peer(peer, isUp: true)
        lastHeard[peer] = .now
        incarnations[peer] = link.peer.incarnation
        logger.info("replication peer up", metadata: ["peer": "\(link.peer)"])
        let onEvent = onEvent
        // One reader per peer (the one of a replaced link ends as its link closes). It takes
        // heartbeats and acknowledgements as they arrive, and queues every other message for the
        // link's applier, which applies them in order and acknowledges each once applied: a large
        // chunk being applied never holds up the heartbeats and acknowledgements behind it (which
        // made busy peers look silent, and dropped their links).
        readers[peer] = Task { [weak self] in
            let (messages, inbox) = AsyncStream<ReplicationMessage>.makeStream()
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await onEvent?(.linkUp(peer, afterIsolation: afterIsolation))
                    for await message in messages {
                        await onEvent?(.message(message, from: peer))
                        if message.ackID != 0 { await self?.acknowledge(message.ackID, on: link) }
                    }
                }
                do {
                    for try await frame in link.frames {
                        if let message = await self?.received(frame, from: peer) { inbox.yield(message) }
                    }
                } catch {}
                inbox.finish()
                await self?.lost(link, peer: peer)
            }
        }
    }

    private func acknowledge(_ id: UInt64, on link: ReplicationLink) {
        transmit(ReplicationMessage.ack(id).encoded, on: link)
    }

    /// Counts `frame` and handles a heartbeat or an acknowledgement; any other message is returned
    /// for the link's applier.
    private func received(_ frame: [UInt8], from peer: String) -> ReplicationMessage? {
        lastHeard[peer] = .now
        receivedTraffic.messages += 1
        receivedTraffic.bytes += frame.count
        metrics?.messagesReceived.increment()
        metrics?.bytesReceived.increment(by: frame.count)
        let message: ReplicationMessage
        do {
            message = try ReplicationMessage(decoding: frame)
        } catch {
            logger.warning("replication message unreadable", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            return nil
        }
        switch message {
        case .heartbeat:
            return nil
        case .ack(let id):
            acknowledged(id, by: peer)
            return nil
        default:
            return message
        }
    }

    private func lost(_ link: ReplicationLink, peer: String) {
        guard links[peer] === link else { return }
        links[peer] = nil
        lastHeard[peer] = nil
        lostAt[peer] = .now
        metrics?.peers.record(links.count)
        metrics?.peer(peer, isUp: false)
        logger.warning("replication peer down", metadata: ["peer": "\(link.peer)"])
        giveUpAcks(from: peer)
        if let onEvent { Task { await onEvent(.linkDown(peer)) } }
    }

    private func beat() async {
        let heartbeat = ReplicationMessage.heartbeat.encoded
        var last = ContinuousClock.now
        let silence = configuration.heartbeat * configuration.missedBeats
        pulse.beat()
        while !stopped && !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeat)
            let gap = ContinuousClock.now - last
            last = .now
            if gap <= silence { pulse.beat() }
            if gap > configuration.heartbeat * configuration.missedBeats {
                // This process did not run for longer than peers wait for a beat (SIGSTOP, a
                // pause): its peers have dropped it and may have written meanwhile.
                logger.warning("replication: this node was stopped; catching up", metadata: ["for": "\(gap)"])
                await onEvent?(.resumed(after: gap))
                pulse.beat()
            }
            let deadline = ContinuousClock.now - configuration.heartbeat * configuration.missedBeats
            for (peer, link) in links {
                if let heard = lastHeard[peer], heard < deadline {
                    // Silent for the missed beats: down (a hung peer too); the dialler retries.
                    link.close()
                    lost(link, peer: peer)
                } else {
                    transmit(heartbeat, on: link)
                }
            }
        }
    }
}

/// The monotonic time of the heartbeat loop's last turn (CLOCK_MONOTONIC runs on while the
/// process is stopped, so a stop shows as a gap).
final class Pulse: Sendable {
    private let last = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)

    func beat() { last.store(DispatchTime.now().uptimeNanoseconds, ordering: .releasing) }

    /// Whether the loop has not turned for longer than `limit`.
    func isStale(_ limit: Duration) -> Bool {
        let gap = DispatchTime.now().uptimeNanoseconds &- last.load(ordering: .acquiring)
        return Int64(bitPattern: gap) > limit.wholeNanoseconds
    }
}

import CloakroomCore
public import CloakroomSessions
import CoreMetrics
public import Foundation
public import Logging
import Synchronization

/// Sessions held by every node and copied between them (the `replicated` topology, all-to-all):
/// a local store (memory by default) plus a `PeerMesh`.
///
/// - Sign-in, sign-out and data writes (`insert`, `delete`, `deleteAll`, `update`) return once
///   every live peer has applied them, or after `ackTimeout` (the write then counts in
///   `unacknowledgedWrites`), so a write answered 200 survives the death of the node that took
///   it; sliding-expiry touches are batched every heartbeat and not waited for.
/// - Conflicts resolve by (version, writer's node name): every node keeps the greater, whatever
///   the order the copies arrive in; never by arrival order.
/// - A deleted session is remembered (a tombstone, until its absolute expiry) so a late or
///   replayed copy from a peer that was hung or cut off cannot bring it back.
/// - A node that starts or returns asks a live peer for everything it holds, a chunk of 256
///   records at a time, each acknowledged before the next (memory stays bounded), and is `isReady`
///   only once that is done (or when no peer answers within `joinWait`: it is the first node).
/// - A write a peer may have missed (its link was down, or it did not acknowledge) is remembered
///   for that peer and sent to it when its link is up (hinted handoff, `flushHints`); a load of a
///   session this node does not hold asks the peers for it (`fetchMissing`).
public final class ReplicatedSessionStore: ReplicaCore {
    /// The sessions this node holds.
    public let local: any CompleteSessionStore
    public var localStore: any CompleteSessionStore { local }
    /// The links to the peers.
    public let mesh: PeerMesh
    let state: ReplicaState
    let requests = PeerRequests()
    let logger: Logger
    /// How long a starting node waits for a peer before it decides it is the first.
    public let joinWait: Duration
    /// How long a load of a session this node does not hold waits for the peers' copies.
    public let fetchTimeout: Duration

    public init(
        local: any CompleteSessionStore = MemorySessionStore(),
        mesh: PeerMesh,
        joinWait: Duration = .seconds(2),
        fetchTimeout: Duration = .seconds(1),
        logger: Logger = Logger(label: "cloakroom.replication")
    ) {
        self.local = local
        self.mesh = mesh
        self.joinWait = joinWait
        self.fetchTimeout = fetchTimeout
        self.logger = logger
        self.state = ReplicaState(node: mesh.configuration.identity.nodeID)
    }

    /// Starts the mesh, then catches up from a peer; returns when this node is ready. A link that
    /// comes back later makes it catch up from that peer again.
    public func start() async throws {
        try await startMesh()
        try await catchUp()
    }

    /// Starts listening for peers and dialling them (returns once the listener is bound).
    public func startMesh() async throws {
        try await mesh.start { [weak self] event in await self?.handle(event) }
        await startFlusher { [weak self] in
            await self?.flushTouches()
            await self?.flushHints(
                still: { _, _ in true },
                everything: { [weak self] peer in await self?.sendEverything(to: peer) }
            )
        }
    }

    /// Waits for a peer (at most `joinWait`) and pulls everything it holds; then this node is ready.
    public func catchUp() async throws {
        let deadline = ContinuousClock.now + joinWait
        while ContinuousClock.now < deadline, await mesh.livePeers.isEmpty {
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let peer = await mesh.livePeers.first else {
            await state.markStarted()
            logger.info("replication: no peer answered; starting as the first node")
            return
        }
        let started = ContinuousClock.now
        await state.expectSync(from: peer)
        await mesh.send(to: peer, wait: false) { _ in .syncRequest }
        while !(await state.isReady), ContinuousClock.now - started < .seconds(60) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let (records, bytes) = await state.syncFigures
        logger.info(
            "replication: caught up",
            metadata: ["from": "\(peer)", "records": "\(records)", "bytes": "\(bytes)", "took": "\(ContinuousClock.now - started)"]
        )
        await state.markStarted()
    }

    /// Whether this node holds what it should (false while it catches up).
    public var isReady: Bool { get async { await state.isReady } }

    /// Records and bytes received while catching up.
    public var catchUp: (records: Int, bytes: Int) { get async { await state.syncFigures } }

    /// Reports on `metrics` from now on (peers, traffic, acknowledgements, readiness, sessions held).
    public func attach(_ metrics: ReplicationMetrics) async {
        await mesh.attach(metrics)
        await state.attach(metrics)
    }

    /// Stops replicating (the local store is left as it is).
    public func stop() async {
        await state.cancelTasks()
        await mesh.stop()
    }

    // MARK: - SessionStore

    /// Throws `NotReady` (503) while this node catches up after it was cut off or stopped: what
    /// it holds may include sessions revoked meanwhile, which it must not serve. (While it first
    /// joins, the same: it may lack sessions.) A session not held here is asked of the peers
    /// (`fetchMissing`).
    public func load(key: String, now: Date) async throws -> SessionRecord? {
        guard state.readiness.isReady, !mesh.wasStopped else { throw NotReady() }
        if let record = try await local.load(key: key, now: now) { return record }
        return try await fetchMissing(key, now: now)
    }

    /// A session this node does not hold: a sign-in whose copy has not arrived yet (its writer
    /// gave up waiting for this node), or one written while the link to its writer was down.
    /// Every live peer is asked for its copy (one round trip, in parallel; counted in
    /// `cloakroom_replication_remote_fetches_total`); the greatest (version, writer) of the live
    /// copies is kept here and served, so the browser is not signed out. Nothing: `nil` (no such
    /// session), or 503 when some linked peer did not answer within `fetchTimeout` (the balancer
    /// retries on another node) rather than say "no such session" without knowing. So too when
    /// a link of this node went down less than two heartbeats ago (a link being replaced, or cut
    /// for a moment): the peer behind it may hold the only copy. A key deleted here is never
    /// asked for.
    func fetchMissing(_ key: String, now: Date) async throws -> SessionRecord? {
        guard let bytes = HashedKey(key)?.bytes, await !state.isBuried(key) else { return nil }
        let peers = await mesh.livePeers
        guard !peers.isEmpty else {
            if await mesh.lostRecently() { throw NotReady() }
            return nil
        }
        await state.countFetch()
        let answers = await requests.ask(peers, on: mesh, timeout: fetchTimeout) { .fetch(key: bytes, request: $0) }
        var found = false
        for reply in answers.replies {
            guard let item = reply.records.first, let record = SessionRecord(binary: item.record, key: key),
                !record.isExpired(at: now)
            else { continue }
            try await merge(record, origin: item.origin)
            found = true
        }
        // Nobody had it, but some peer did not answer (slow, or gone before answering): it may
        // hold the only copy.
        if !found, answers.replies.count < peers.count { throw NotReady() }
        if !found, await mesh.lostRecently() { throw NotReady() }
        return found ? try await local.load(key: key, now: now) : nil
    }

    public func insert(_ record: SessionRecord) async throws {
        try await local.insert(record)
        await state.wrote(record.key)
        guard let key = HashedKey(record.key)?.bytes else { return }
        let origin = state.node
        await replicate([record.key]) { .put(key: key, record: record.binaryEncoded(), origin: origin, ack: $0) }
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        guard try await local.update(record, expectedVersion: expectedVersion) else { return false }
        await state.wrote(record.key)
        if let key = HashedKey(record.key)?.bytes {
            let origin = state.node
            await replicate([record.key]) { .put(key: key, record: record.binaryEncoded(), origin: origin, ack: $0) }
        }
        return true
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        try await local.touch(key: key, lastSeen: lastSeen, idleExpiresAt: idleExpiresAt)
        if let bytes = HashedKey(key)?.bytes {
            await state.queueTouch(.init(key: bytes, lastSeen: Self.ms(lastSeen), idleExpiresAt: Self.ms(idleExpiresAt)))
        }
    }

    public func delete(key: String) async throws {
        let until = try await Self.tombstoneExpiry(key, in: local)
        try await local.delete(key: key)
        await state.bury(key, until: until)
        guard let bytes = HashedKey(key)?.bytes else { return }
        await replicate([key]) { .delete(key: bytes, until: until, ack: $0) }
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        try await local.records(forUser: userID, now: now)
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        let until = Self.ms(Date().addingTimeInterval(Self.tombstoneLifetime))
        let removed = try await buryUser(userID, except: exceptKey, until: until)
        let except = exceptKey.flatMap { HashedKey($0)?.bytes }
        await replicate(removed) { .deleteUser(userID: userID, except: except, until: until, ack: $0) }
        return removed.count
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        try await local.list(now: now, afterKey: afterKey, limit: limit)
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        try await sweep(now: now, limit: limit)
    }

    /// Throws `NotReady` (503) while this node catches up.
    public func ping() async throws {
        try await pingWhenReady()
    }

    /// This node is still catching up from its peers.
    public typealias NotReady = ReplicaNotReady

    // MARK: - From peers

    func handle(_ event: PeerMesh.Event) async {
        switch event {
        case .linkUp(let peer, let afterIsolation):
            // A link back after this node was cut off from every peer, or after it was stopped:
            // it may have missed writes, and asks that peer again. (A peer that restarted while
            // others stayed linked is the one catching up: nothing to ask.) After a stop it is not
            // ready (loads and /healthz 503) until the answer is in.
            // Whether it was cut off is decided when the link is adopted: by the time this runs,
            // the other links may be back too.
            await state.linked(peer, incarnation: await mesh.incarnation(of: peer))
            guard await state.hasStarted else { return }
            let resuming = await state.isResuming
            guard afterIsolation || resuming else { return }
            await state.expectSync(from: peer)
            await mesh.send(to: peer, wait: false) { _ in .syncRequest }
        case .resumed:
            // Stopped for longer than peers wait: what it holds may include sessions revoked
            // meanwhile. Not ready until a peer's answer is in (asked now if a link is still up,
            // else when one comes back; asked again each `joinWait` until answered). Alone, it
            // serves what it has after `joinWait`.
            guard await state.hasStarted else { return }
            await state.markResuming()
            let wait = joinWait
            Task { [weak self] in
                while let self, await self.state.isResuming {
                    if let peer = await self.mesh.livePeers.first {
                        await self.state.expectSync(from: peer)
                        await self.mesh.send(to: peer, wait: false) { _ in .syncRequest }
                    }
                    try? await Task.sleep(for: wait)
                    if await self.mesh.livePeers.isEmpty, await self.state.isResuming {
                        await self.state.markReady()
                    }
                }
            }
        case .linkDown(let peer):
            await requests.peerGone(peer)
        case .message(let message, let peer):
            do {
                try await apply(message, from: peer)
            } catch {
                logger.warning("replication: a message from a peer could not be applied", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            }
        }
    }

    func apply(_ message: ReplicationMessage, from peer: String) async throws {
        switch message {
        case .put(let key, let record, let origin, _):
            try await applyPut(key: key, record: record, origin: origin)
        case .delete(let key, let until, _):
            guard let hex = HashedKey(bytes: key)?.hex else { return }
            await state.bury(hex, until: until)
            try await local.delete(key: hex)
        case .deleteUser(let userID, let except, let until, _):
            try await buryUser(userID, except: except.flatMap { HashedKey(bytes: $0)?.hex }, until: until)
        case .touches(let touches):
            try await applyTouches(touches)
        case .syncRequest:
            Task { await self.sendEverything(to: peer) }
        case .syncChunk(let records, _):
            var bytes = 0
            for item in records {
                bytes += item.key.count + item.record.count + item.origin.utf8.count
                try await applyPut(key: item.key, record: item.record, origin: item.origin)
            }
            await state.synced(records: records.count, bytes: bytes)
        case .syncDone:
            await state.syncDone(from: peer)
        case .fetch(let key, let request):
            try await answerFetch(key, request: request, from: peer)
        case .fetched(let request, let record, let origin, let owner, let handedOver):
            await receiveFetched(request, record: record, origin: origin, owner: owner, handedOver: handedOver, from: peer)
        case .ack, .heartbeat, .release, .userQuery, .userRecords:
            // The last three are the `backup` topology's; a node of this one never sends them.
            return
        }
    }

    /// Keeps the greater of (version, writer) between the local copy and `record`.
    func applyPut(key: [UInt8], record bytes: [UInt8], origin: String) async throws {
        guard let hex = HashedKey(bytes: key)?.hex, let record = SessionRecord(binary: bytes, key: hex) else {
            throw ReplicationMessage.Malformed(description: "a session record that does not decode")
        }
        try await merge(record, origin: origin)
    }

    /// Deletes `userID`'s sessions but `except`, remembering each; their keys.
    @discardableResult
    private func buryUser(_ userID: String, except: String?, until: Int64) async throws -> [String] {
        let victims = try await local.records(forUser: userID, now: Date(timeIntervalSince1970: 0)).filter { $0.key != except }
        for victim in victims { await state.bury(victim.key, until: until) }
        _ = try await local.deleteAll(forUser: userID, exceptKey: except)
        return victims.map(\.key)
    }

    /// Streams every live session to `peer`, one acknowledged chunk at a time, then `syncDone`.
    func sendEverything(to peer: String) async {
        var after: String?
        while true {
            guard let page = try? await local.list(now: Date(), afterKey: after, limit: 256), !page.isEmpty else { break }
            var items: [ReplicationMessage.SyncedRecord] = []
            for record in page {
                if let item = await synced(record) { items.append(item) }
            }
            guard await sendChunked(items, to: peer) else {
                logger.warning("replication: a peer stopped acknowledging its catch-up", metadata: ["peer": "\(peer)"])
                return
            }
            after = page.last?.key
            if page.count < 256 { break }
        }
        for (key, until) in await state.tombstones {
            guard let bytes = HashedKey(key)?.bytes else { continue }
            await mesh.send(to: peer, wait: false) { _ in .delete(key: bytes, until: until, ack: 0) }
        }
        await mesh.send(to: peer, wait: false) { _ in .syncDone }
    }

    func flushTouches() async {
        let touches = await state.takeTouches()
        guard !touches.isEmpty else { return }
        for start in stride(from: 0, to: touches.count, by: 10_000) {
            let batch = Array(touches[start..<min(start + 10_000, touches.count)])
            await mesh.broadcast(wait: false) { _ in .touches(batch) }
        }
    }

    /// How long a tombstone of a deleted session is kept when its own expiry is not known.
    static let tombstoneLifetime: TimeInterval = 24 * 3600

    /// Until when a tombstone of `key` is kept: its absolute expiry, or a day when unknown.
    static func tombstoneExpiry(_ key: String, in local: any CompleteSessionStore) async throws -> Int64 {
        if let record = try await local.load(key: key, now: Date(timeIntervalSince1970: 0)) {
            return Self.ms(record.absoluteExpiresAt)
        }
        return Self.ms(Date().addingTimeInterval(Self.tombstoneLifetime))
    }

    static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
}

/// What a replicating node remembers beside its sessions: who wrote each one last, the deleted
/// keys, the touches waiting to be sent, and whether it has caught up.
actor ReplicaState {
    nonisolated let node: String
    private var origins: [String: String] = [:]
    private(set) var tombstones: [String: Int64] = [:]
    private var touches: [String: ReplicationMessage.Touch] = [:]
    private(set) var isReady = false {
        didSet {
            metrics?.ready.record(isReady ? 1 : 0)
            readiness.set(isReady)
        }
    }
    /// `isReady`, readable without a hop to this actor (every request's load checks it).
    nonisolated let readiness = Readiness()
    private(set) var hasStarted = false
    private var metrics: ReplicationMetrics?
    private var syncPeer: String?
    private var syncedRecords = 0
    private var syncedBytes = 0
    private var tasks: [Task<Void, Never>] = []

    init(node: String) { self.node = node }

    func origin(of key: String) -> String { origins[key] ?? node }
    func wrote(_ key: String, by origin: String? = nil) { origins[key] = origin ?? node }
    func bury(_ key: String, until: Int64) {
        tombstones[key] = max(tombstones[key] ?? 0, until)
        origins[key] = nil
        touches[key] = nil
    }
    func isBuried(_ key: String) -> Bool { tombstones[key] != nil }
    /// Until when `key` is remembered as deleted, if it is.
    func tombstone(of key: String) -> Int64? { tombstones[key] }
    func countFetch() { metrics?.remoteFetches.increment() }
    private var checkRound: [String] = []
    private var checkCursor = 0
    /// The next `count` keys of the writer map to check, in rounds over all of them.
    func nextOriginsToCheck(_ count: Int) -> [String] {
        if checkCursor >= checkRound.count {
            checkRound = Array(origins.keys)
            checkCursor = 0
        }
        let end = min(checkCursor + count, checkRound.count)
        defer { checkCursor = end }
        return Array(checkRound[checkCursor..<end])
    }
    func forgetOrigin(_ key: String) { origins[key] = nil }
    var originCount: Int { origins.count }
    func forgetTombstones(before cutoff: Int64) { tombstones = tombstones.filter { $0.value > cutoff } }
    func queueTouch(_ touch: ReplicationMessage.Touch) {
        guard let hex = HashedKey(bytes: touch.key)?.hex else { return }
        touches[hex] = touch
    }
    func takeTouches() -> [ReplicationMessage.Touch] {
        defer { touches = [:] }
        return Array(touches.values)
    }
    func expectSync(from peer: String) { syncPeer = peer }
    func synced(records: Int, bytes: Int) {
        syncedRecords += records
        syncedBytes += bytes
    }
    func syncDone(from peer: String) {
        guard peer == syncPeer else { return }
        isReady = true
        isResuming = false
    }
    /// This node was stopped: not ready until a peer's answer is in.
    private(set) var isResuming = false
    func markResuming() {
        isResuming = true
        isReady = false
    }
    func attach(_ metrics: ReplicationMetrics) {
        self.metrics = metrics
        metrics.ready.record(isReady ? 1 : 0)
    }
    func report(sessions: Int) { metrics?.sessions.record(sessions) }
    func markReady() {
        isReady = true
        isResuming = false
    }
    func markNotReady() { isReady = false }
    /// The first catch-up is over: ready, and later links and resumptions trigger catch-ups.
    func markStarted() {
        isReady = true
        hasStarted = true
    }
    var syncFigures: (Int, Int) { (syncedRecords, syncedBytes) }
    func keep(_ task: Task<Void, Never>) { tasks.append(task) }

    // MARK: Hinted handoff

    /// Keys written here that a peer may have missed (its link was down, or it did not
    /// acknowledge before its link closed or the time ran out), to send it once its link is up.
    private var hints: [String: Set<String>] = [:]
    /// Peers that missed more than `hintLimit` writes: they are sent everything.
    private var hintsOverflowed: Set<String> = []
    private var incarnations: [String: [UInt8]] = [:]
    /// Keys remembered per peer (about 100 bytes each) before it is sent everything instead.
    static let hintLimit = 100_000

    func hint(_ keys: [String], for peers: Set<String>) {
        for peer in peers where !hintsOverflowed.contains(peer) {
            var held = hints[peer, default: []]
            held.formUnion(keys)
            if held.count > Self.hintLimit {
                hints[peer] = nil
                hintsOverflowed.insert(peer)
            } else {
                hints[peer] = held
            }
        }
    }

    /// Up to `limit` keys hinted for `peer`, taken off the list; or `everything` when it missed
    /// more than the list holds.
    func takeHints(for peer: String, limit: Int) -> (keys: [String], everything: Bool) {
        if hintsOverflowed.remove(peer) != nil {
            hints[peer] = nil
            return ([], true)
        }
        guard var held = hints[peer] else { return ([], false) }
        var keys: [String] = []
        while keys.count < limit, let key = held.popFirst() { keys.append(key) }
        hints[peer] = held.isEmpty ? nil : held
        return (keys, false)
    }

    /// The peers with hints waiting.
    var hintedPeers: [String] { Set(hints.keys).union(hintsOverflowed).sorted() }
    var hintCount: Int { hints.values.reduce(0) { $0 + $1.count } }

    /// `peer`'s link came up with `incarnation`; whether it is a new one (the peer restarted, and
    /// holds nothing it held before: its hints go).
    @discardableResult
    func linked(_ peer: String, incarnation: [UInt8]?) -> Bool {
        guard let incarnation else { return false }
        defer { incarnations[peer] = incarnation }
        guard let known = incarnations[peer], known != incarnation else { return false }
        hints[peer] = nil
        hintsOverflowed.remove(peer)
        return true
    }
    func cancelTasks() {
        for task in tasks { task.cancel() }
        tasks = []
    }
}

/// A flag read on every request without an actor hop.
final class Readiness: Sendable {
    private let flag = Atomic<Bool>(false)
    var isReady: Bool { flag.load(ordering: .acquiring) }
    func set(_ ready: Bool) { flag.store(ready, ordering: .releasing) }
}

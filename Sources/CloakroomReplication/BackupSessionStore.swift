import CloakroomCore
public import CloakroomSessions
import CoreMetrics
import Crypto
public import Foundation
public import Logging

/// Sessions with an owner and one backup (the `backup` topology, Tomcat's BackupManager): each
/// node holds the sessions it owns and the backups it keeps for others, about 2/N of them all,
/// instead of every session as in `replicated`.
///
/// - The owner is the node that created the session (the balancer's sticky cookie keeps the
///   browser there). Its backup is chosen by rendezvous hashing of the session key over the live
///   nodes: when a node joins, about 1/N of the backups move to it, and nothing else moves.
/// - Sign-in and data writes are acknowledged once the backup has them (or `ackTimeout` passed:
///   counted in `cloakroom_replication_unacknowledged_writes_total`), so a write answered 200
///   survives its owner's death; batched sliding-expiry touches go to the backup without waiting.
///   Sign-out and revocation go to every live node and
///   are acknowledged by all, each keeping a tombstone: a copy cannot come back.
/// - A request that lands on a node that does not own the session asks every live peer for its
///   copy (one round trip, in parallel; counted in `cloakroom_replication_remote_fetches_total`),
///   keeps the greatest (version, writer), takes ownership, sends the session to the backup it
///   chooses and tells the other holders to drop theirs. The owner it asked hands the session
///   over: it owns it no more and raises its copy's version first, so that a write there that
///   read the session before fails its version check (and reads it again, from the new owner).
///   A fetch not handed the session while another node is taking it over fails with 503: one
///   owner at a time, or a write one of them acknowledged could be lost. When some linked peer
///   did not answer within `fetchTimeout`, or nobody had a copy and a peer went down before answering, the load
///   fails with 503 (retried on another node by the balancer) rather than answer "no such
///   session" or serve an older copy.
/// - When a node goes down, the backups of its sessions become their owners and choose new
///   backups, and owners whose backup it was choose new ones.
/// - A node that starts asks every peer to send what it should back up (in acknowledged chunks of
///   256) and the tombstones, and is ready (`/healthz` 200, loads served) once each answered. A
///   node that was stopped or cut off does the same, and trusts none of its own copies until
///   it has asked the other nodes again (the first load of each asks).
public final class BackupSessionStore: ReplicaCore {
    /// The sessions this node holds: its own and its backups.
    public let local: any CompleteSessionStore
    public var localStore: any CompleteSessionStore { local }
    /// The links to the peers.
    public let mesh: PeerMesh
    let state: ReplicaState
    let roles: BackupRoles
    let requests = PeerRequests()
    let logger: Logger
    /// How long a starting node waits for a peer before it decides it is the first.
    public let joinWait: Duration
    /// How long a load waits for peers' copies of a session this node does not own.
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
        self.roles = BackupRoles(node: mesh.configuration.identity.nodeID)
    }

    var node: String { state.node }

    public func start() async throws {
        try await startMesh()
        try await catchUp()
    }

    public func startMesh() async throws {
        try await mesh.start { [weak self] event in await self?.handle(event) }
        await startFlusher { [weak self] in
            await self?.flushTouches()
            await self?.flushHints(
                still: { [weak self] key, peer in await self?.roles.backup(of: key) == peer },
                everything: { [weak self] peer in await self?.pushBackups(to: peer) }
            )
            await self?.roles.report()
        }
    }

    /// Waits for a peer (at most `joinWait`), then until every linked peer has sent what this
    /// node should hold (at most 60 s); then this node is ready.
    public func catchUp() async throws {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < joinWait, await mesh.livePeers.isEmpty {
            try await Task.sleep(for: .milliseconds(50))
        }
        // Links that came up are asked as they come (see `handle`); wait for their answers.
        while ContinuousClock.now - started < .seconds(60), await !roles.syncPending.isEmpty {
            try await Task.sleep(for: .milliseconds(20))
        }
        let (records, bytes) = await state.syncFigures
        logger.info(
            "replication (backup): caught up",
            metadata: ["records": "\(records)", "bytes": "\(bytes)", "took": "\(ContinuousClock.now - started)"]
        )
        await state.markStarted()
    }

    public var isReady: Bool { get async { await state.isReady } }

    public var catchUp: (records: Int, bytes: Int) { get async { await state.syncFigures } }

    public func attach(_ metrics: ReplicationMetrics) async {
        await mesh.attach(metrics)
        await state.attach(metrics)
        await roles.attach(metrics)
    }

    public func stop() async {
        await state.cancelTasks()
        await mesh.stop()
    }

    /// Sessions this node owns and backs up.
    public var held: (owned: Int, backups: Int) { get async { await roles.counts } }

    // MARK: - SessionStore

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        guard state.readiness.isReady, !mesh.wasStopped else { throw NotReady() }
        if await roles.ownsVerified(key) {
            return try await local.load(key: key, now: now)
        }
        guard let bytes = HashedKey(key)?.bytes, await !state.isBuried(key) else { return nil }
        // Until this load is done, a peer asking this node for the session hears that it is being
        // taken over here.
        await roles.beginTakeover(key)
        do {
            let record = try await fetchAndOwn(key, bytes: bytes, now: now)
            await roles.endTakeover(key)
            return record
        } catch {
            await roles.endTakeover(key)
            throw error
        }
    }

    /// Not ours, or not trusted since this node was cut off: every live peer's copy, and ours; the
    /// greatest (version, writer) is owned here from now on.
    private func fetchAndOwn(_ key: String, bytes: [UInt8], now: Date) async throws -> SessionRecord? {
        var best: (record: SessionRecord, origin: String)?
        if let mine = try await local.load(key: key, now: Date(timeIntervalSince1970: 0)) {
            best = (mine, await state.origin(of: key))
        }
        var holders: [String] = []
        let peers = await mesh.livePeers
        if peers.isEmpty, let owner = await roles.owner(of: key), owner != node {
            // Alone, with a backup of another node's session: that node's sessions are this one's
            // once it has been gone two heartbeats (`reassign`); until then its link may come back
            // with a newer copy. 503, tried again.
            throw NotReady()
        }
        if !peers.isEmpty {
            await state.countFetch()
            let answers = await ask(peers) { .fetch(key: bytes, request: $0) }
            // A copy found while another peer, still linked, did not answer in time may be older
            // than that peer's: not knowing the newest is no answer either. A peer that went down
            // is gone with whatever it held (its backups own its sessions now).
            if answers.replies.count + answers.gone.count < peers.count { throw NotReady() }
            if !answers.gone.isEmpty, best == nil, !answers.replies.contains(where: { !$0.records.isEmpty }) {
                // Nothing anywhere, but a peer went down before answering: it may have held the
                // only copy and be back in a moment (a cut link); 503, tried again, not signed out.
                throw NotReady()
            }
            // Another node is taking it over at this moment: two owners would each acknowledge
            // writes the other never sees. 503, and the client's next try finds the new owner.
            if Self.anotherTakesOver(answers.replies) { throw NotReady() }
            for reply in answers.replies {
                guard let item = reply.records.first, let record = SessionRecord(binary: item.record, key: key) else { continue }
                holders.append(reply.peer)
                if let current = best, (current.record.version, current.origin) >= (record.version, item.origin) { continue }
                best = (record, item.origin)
            }
        }
        if best == nil, await mesh.lostRecently() {
            // Found nowhere, but a link went down a moment ago (a link being replaced leaves this
            // node alone for a few milliseconds): the peer behind it may hold the only copy.
            // 503, tried again, not signed out; a peer still gone two heartbeats later has
            // handed its sessions to its backups (`reassign`).
            throw NotReady()
        }
        guard let best, await !state.isBuried(key) else {
            await roles.forget(key)
            return nil
        }
        try await takeOwnership(of: best.record, origin: best.origin, holders: holders)
        return try await local.load(key: key, now: now)
    }

    /// Whether the answers to a `fetch` say that another node is taking the session over at this
    /// moment (it names itself: it is fetching the session too, or was handed it and is taking it
    /// in). Not when a peer handed the session over to the asker: that peer owned it (or backed
    /// it up for an owner that is gone), and hands it over once.
    static func anotherTakesOver(_ replies: [PeerRequests.Reply]) -> Bool {
        if replies.contains(where: \.handedOver) { return false }
        return replies.contains { !$0.owner.isEmpty && $0.owner == $0.peer }
    }

    public func insert(_ record: SessionRecord) async throws {
        try await local.insert(record)
        await state.wrote(record.key)
        let backup = Self.backup(for: record.key, among: await mesh.livePeers)
        await roles.own(record.key, backup: backup)
        guard let backup, let key = HashedKey(record.key)?.bytes else { return }
        let origin = node
        await backUp(record.key, to: backup) { .put(key: key, record: record.binaryEncoded(), origin: origin, ack: $0) }
    }

    /// Sends `message` to `backup` and waits for its acknowledgement (at most `ackTimeout`);
    /// without it, `key` is remembered for it and sent when its link is up (`flushHints`).
    private func backUp(_ key: String, to backup: String, _ message: @Sendable (UInt64) -> ReplicationMessage) async {
        if await !mesh.send(to: backup, wait: true, message) { await state.hint([key], for: [backup]) }
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        guard try await local.update(record, expectedVersion: expectedVersion) else { return false }
        await state.wrote(record.key)
        if let backup = await roles.backup(of: record.key), let key = HashedKey(record.key)?.bytes {
            let origin = node
            await backUp(record.key, to: backup) { .put(key: key, record: record.binaryEncoded(), origin: origin, ack: $0) }
        }
        return true
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        try await local.touch(key: key, lastSeen: lastSeen, idleExpiresAt: idleExpiresAt)
        if let bytes = HashedKey(key)?.bytes {
            await state.queueTouch(
                .init(key: bytes, lastSeen: ReplicatedSessionStore.ms(lastSeen), idleExpiresAt: ReplicatedSessionStore.ms(idleExpiresAt))
            )
        }
    }

    /// Sent to every live node (any may hold a copy), acknowledged by all.
    public func delete(key: String) async throws {
        let until = try await ReplicatedSessionStore.tombstoneExpiry(key, in: local)
        try await local.delete(key: key)
        await state.bury(key, until: until)
        await roles.forget(key)
        guard let bytes = HashedKey(key)?.bytes else { return }
        await replicate([key]) { .delete(key: bytes, until: until, ack: $0) }
    }

    /// This node's copies and every live peer's, the greatest (version, writer) of each.
    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        var best: [String: (record: SessionRecord, origin: String)] = [:]
        for record in try await local.records(forUser: userID, now: now) {
            best[record.key] = (record, await state.origin(of: record.key))
        }
        let peers = await mesh.livePeers
        if !peers.isEmpty {
            for reply in await ask(peers, { .userQuery(userID: userID, request: $0) }).replies {
                for item in reply.records {
                    guard let hex = HashedKey(bytes: item.key)?.hex, let record = SessionRecord(binary: item.record, key: hex),
                        record.userID == userID, await !state.isBuried(hex), !record.isExpired(at: now)
                    else { continue }
                    if let current = best[hex], (current.record.version, current.origin) >= (record.version, item.origin) { continue }
                    best[hex] = (record, item.origin)
                }
            }
        }
        return best.values.map(\.record).sorted { $0.createdAt < $1.createdAt }
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        let until = ReplicatedSessionStore.ms(Date().addingTimeInterval(ReplicatedSessionStore.tombstoneLifetime))
        // Counted over the whole cluster: this node may hold none of them.
        let victims = try await records(forUser: userID, now: Date(timeIntervalSince1970: 0)).filter { $0.key != exceptKey }
        for victim in victims {
            await state.bury(victim.key, until: until)
            await roles.forget(victim.key)
        }
        _ = try await local.deleteAll(forUser: userID, exceptKey: exceptKey)
        let except = exceptKey.flatMap { HashedKey($0)?.bytes }
        await replicate(victims.map(\.key)) { .deleteUser(userID: userID, except: except, until: until, ack: $0) }
        return victims.count
    }

    /// This node's copies (owned and backups): an administrator's listing per node.
    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        try await local.list(now: now, afterKey: afterKey, limit: limit)
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        let removed = try await sweep(now: now, limit: limit)
        for key in await roles.nextToCheck(max(limit, 1)) where try await local.load(key: key, now: Date(timeIntervalSince1970: 0)) == nil {
            await roles.forget(key)
        }
        return removed
    }

    /// Throws `NotReady` (503) while this node catches up.
    public func ping() async throws {
        try await pingWhenReady()
    }

    /// This node is still catching up from its peers.
    public typealias NotReady = ReplicaNotReady

    // MARK: - Ownership

    /// Rendezvous (highest random weight) hashing: the node among `nodes` with the greatest
    /// SHA-256(key, node); nil when there is none.
    static func backup(for key: String, among nodes: [String]) -> String? {
        nodes.max { (score(key, $0), $0) < (score(key, $1), $1) }
    }

    static func score(_ key: String, _ node: String) -> UInt64 {
        var hash = SHA256()
        hash.update(data: Array(key.utf8))
        hash.update(data: [0])
        hash.update(data: Array(node.utf8))
        return hash.finalize().withUnsafeBytes { raw in raw.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
    }

    /// Keeps `record` (if it is newer than this node's copy), owns it, sends it to a backup and
    /// tells the other holders to drop their copies.
    func takeOwnership(of record: SessionRecord, origin: String, holders: [String]) async throws {
        try await merge(record, origin: origin)
        let live = await mesh.livePeers
        let backup = Self.backup(for: record.key, among: live)
        await roles.own(record.key, backup: backup)
        await roles.countTakeover()
        guard let key = HashedKey(record.key)?.bytes,
            let current = try await local.load(key: record.key, now: Date(timeIntervalSince1970: 0))
        else { return }
        if let backup {
            let writer = await state.origin(of: record.key)
            await backUp(record.key, to: backup) { .put(key: key, record: current.binaryEncoded(), origin: writer, ack: $0) }
        }
        let version = current.wireVersion
        for holder in holders where holder != backup {
            await mesh.send(to: holder, wait: false) { _ in .release(key: key, version: version) }
        }
    }

    /// Sends `peer` every session this node owns that it backs up.
    func pushBackups(to peer: String) async {
        await push(await roles.owned(backedUpBy: peer), to: peer)
    }

    /// Sends `records` (this node's own) to `peer` as its backups, in acknowledged chunks of at
    /// most 256 and within the frame budget.
    func push(_ keys: [String], to peer: String) async {
        for start in stride(from: 0, to: keys.count, by: 256) {
            var items: [ReplicationMessage.SyncedRecord] = []
            for key in keys[start..<min(start + 256, keys.count)] {
                guard let record = try? await local.load(key: key, now: Date(timeIntervalSince1970: 0)), let item = await synced(record)
                else { continue }
                items.append(item)
            }
            guard !items.isEmpty else { continue }
            guard await sendChunked(items, to: peer) else {
                logger.warning("replication (backup): a peer did not acknowledge its backups", metadata: ["peer": "\(peer)"])
                return
            }
        }
    }

    // MARK: - Requests to peers

    /// Sends `message(request)` to `peers` and returns their answers, once all answered or after
    /// `fetchTimeout`.
    func ask(_ peers: [String], _ message: @Sendable (UInt64) -> ReplicationMessage) async -> PeerRequests.Answers {
        await requests.ask(peers, on: mesh, timeout: fetchTimeout, message)
    }

    // MARK: - From peers

    func handle(_ event: PeerMesh.Event) async {
        switch event {
        case .linkUp(let peer, let afterIsolation):
            if await state.linked(peer, incarnation: await mesh.incarnation(of: peer)) {
                // Restarted before this node gave its backups to others: it holds none of them.
                Task { [weak self] in await self?.pushBackups(to: peer) }
            }
            if afterIsolation, await state.hasStarted {
                // Cut off from every peer: it may hold sessions revoked or taken over meanwhile.
                await distrust()
            }
            // Every new link: ask the peer for what this node should back up, and its tombstones.
            if await !state.isReady { await roles.expectSync(from: peer) }
            await mesh.send(to: peer, wait: false) { _ in .syncRequest }
        case .linkDown(let peer):
            await roles.peerGone(peer)
            await requests.peerGone(peer)
            if mesh.wasStopped {
                // This node was stopped, and its peers dropped it: they own what it backed up.
                await distrust()
                return
            }
            await readyIfCaughtUp()
            // A link replaced (both sides dialled; the pair keeps one) or cut for a moment comes
            // back at once: take over only from a peer still gone two heartbeats later.
            let grace = mesh.comebackGrace
            Task { [weak self] in
                try? await Task.sleep(for: grace)
                guard let self, await !self.mesh.livePeers.contains(peer) else { return }
                await self.reassign(after: peer)
            }
        case .resumed:
            guard await state.hasStarted else { return }
            // Not ready until a peer's sync answer is in (or, alone, after `joinWait`): a link
            // dropping meanwhile must not make it ready with nothing caught up.
            await state.markResuming()
            await roles.distrustAll()
            let peers = await mesh.livePeers
            for peer in peers {
                await roles.expectSync(from: peer)
                await mesh.send(to: peer, wait: false) { _ in .syncRequest }
            }
            // Not `readyIfCaughtUp()` here: with every link still down (the usual case after a
            // stop: the peers dropped this node), nothing would be pending and the node would be
            // ready at once, serving copies revoked while it was stopped (a CI run saw one).
            let wait = joinWait
            Task { [weak self] in
                // Alone: after `joinWait`, serve what is here (each copy checked again on its load).
                while let self, await !self.state.isReady {
                    try? await Task.sleep(for: wait)
                    if await self.mesh.livePeers.isEmpty {
                        await self.roles.clearSync()
                        await self.state.markReady()
                    }
                }
            }
        case .message(let message, let peer):
            do {
                try await apply(message, from: peer)
            } catch {
                logger.warning("replication: a message from a peer could not be applied", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            }
        }
    }

    /// Ready again (after it was stopped or cut off) once every peer asked has answered.
    /// Ready when no sync is pending; after a stop (resuming) only on a sync answer (`answered`).
    private func readyIfCaughtUp(answered: Bool = false) async {
        if await state.isResuming, !answered { return }
        if await state.hasStarted, await !state.isReady, await roles.syncPending.isEmpty { await state.markReady() }
    }

    /// Not ready until peers answered again; every copy here is checked with peers on its next load.
    private func distrust() async {
        await state.markNotReady()
        await roles.distrustAll()
    }

    func apply(_ message: ReplicationMessage, from peer: String) async throws {
        switch message {
        case .put(let key, let record, let origin, _):
            try await receiveBackup(key: key, record: record, origin: origin, from: peer)
        case .syncChunk(let records, _):
            var bytes = 0
            for item in records {
                bytes += item.key.count + item.record.count + item.origin.utf8.count
                try await receiveBackup(key: item.key, record: item.record, origin: item.origin, from: peer)
            }
            await state.synced(records: records.count, bytes: bytes)
        case .delete(let key, let until, _):
            guard let hex = HashedKey(bytes: key)?.hex else { return }
            await state.bury(hex, until: until)
            await roles.forget(hex)
            try await local.delete(key: hex)
        case .deleteUser(let userID, let except, let until, _):
            let exceptKey = except.flatMap { HashedKey(bytes: $0)?.hex }
            let victims = try await local.records(forUser: userID, now: Date(timeIntervalSince1970: 0)).filter { $0.key != exceptKey }
            for victim in victims {
                await state.bury(victim.key, until: until)
                await roles.forget(victim.key)
            }
            _ = try await local.deleteAll(forUser: userID, exceptKey: exceptKey)
        case .touches(let touches):
            try await applyTouches(touches)
        case .syncRequest:
            Task { await self.answerSync(from: peer) }
        case .syncDone:
            await roles.syncDone(from: peer)
            await readyIfCaughtUp(answered: true)
        case .fetch(let key, let request):
            try await answerFetchHandingOver(key, request: request, from: peer)
        case .fetched(let request, let record, let origin, let owner, let handedOver):
            await receiveFetched(request, record: record, origin: origin, owner: owner, handedOver: handedOver, from: peer)
        case .release(let key, let version):
            guard let hex = HashedKey(bytes: key)?.hex else { return }
            // A copy newer than the one the new owner took is kept (it was written here after).
            if let copy = try await local.load(key: hex, now: Date(timeIntervalSince1970: 0)), copy.wireVersion > version {
                return
            }
            await roles.forget(hex)
            try await local.delete(key: hex)
            await state.forgetOrigin(hex)
        case .userQuery(let userID, let request):
            var items: [ReplicationMessage.SyncedRecord] = []
            // Expired ones too: the asker filters by its own clock.
            let records = try await local.records(forUser: userID, now: Date(timeIntervalSince1970: 0))
            for record in records.sorted(by: { $0.lastSeen > $1.lastSeen }) {
                if let item = await synced(record) { items.append(item) }
            }
            // One answer, within one frame: the most recent copies first if a user has more than
            // fit (about 60 sessions of the largest size), the rest left out and logged.
            let fitting = ReplicationMessage.chunks(items, limit: Int.max).first ?? []
            if fitting.count < items.count {
                logger.warning(
                    "replication (backup): a user's sessions exceed one message; the listing sent is partial",
                    metadata: ["sessions": "\(items.count)", "sent": "\(fitting.count)"]
                )
            }
            let answer = ReplicationMessage.userRecords(request: request, fitting)
            await mesh.send(to: peer, wait: false) { _ in answer }
        case .userRecords(let request, let records):
            await requests.answer(request, from: peer, records)
        case .ack, .heartbeat:
            return
        }
    }

    /// Answers a peer's `fetch`: this node's copy, and whom it takes for the owner now. The owner
    /// (or the backup of an owner that is gone) hands the session over to the asker: it stops
    /// owning it, then raises its copy's version, so that a write here that read the session
    /// before fails its version check and reads it again, from the new owner. The copy sent
    /// carries every write acknowledged here.
    func answerFetchHandingOver(_ key: [UInt8], request: UInt64, from peer: String) async throws {
        guard let hex = HashedKey(bytes: key)?.hex else { return await sendFetched(nil, request: request, to: peer) }
        var copy = try await copyToAnswer(hex)
        let (owner, handedOver) = await roles.answer(hex, asker: peer, live: Set(await mesh.livePeers), holdsCopy: copy != nil)
        if handedOver { copy = try await raiseVersion(of: hex) }
        await sendFetched(copy, request: request, owner: owner, handedOver: handedOver, to: peer)
    }

    /// Writes the session one version further (as this node), so that an update that read the
    /// version before fails; the copy as it is then (nil once deleted).
    private func raiseVersion(of key: String) async throws -> SessionRecord? {
        for _ in 0..<8 {
            guard var copy = try await local.load(key: key, now: Date(timeIntervalSince1970: 0)) else { return nil }
            let expected = copy.version
            copy.version += 1
            if try await local.update(copy, expectedVersion: expected) {
                await state.wrote(key)
                return copy
            }
        }
        return try await local.load(key: key, now: Date(timeIntervalSince1970: 0))
    }

    /// A session its owner (`peer`) sends this node to keep as its backup.
    private func receiveBackup(key: [UInt8], record bytes: [UInt8], origin: String, from peer: String) async throws {
        guard let hex = HashedKey(bytes: key)?.hex, let record = SessionRecord(binary: bytes, key: hex) else {
            throw ReplicationMessage.Malformed(description: "a session record that does not decode")
        }
        guard try await merge(record, origin: origin) else { return }
        // The sender owns it now, unless this node holds a newer copy of its own (after a cut:
        // the next load here asks again, and the newest copy wins).
        if let current = try await local.load(key: hex, now: Date(timeIntervalSince1970: 0)), current.version > record.version,
            await roles.ownsVerified(hex)
        {
            return
        }
        await roles.hold(hex, owner: peer)
    }

    /// Sends `peer` the tombstones, then the sessions this node owns whose backup should now be
    /// `peer` (about 1/N of them when `peer` joins), telling their former backups to drop them;
    /// sessions that had no live backup get one as well. Then `syncDone`.
    func answerSync(from peer: String) async {
        for (key, until) in await state.tombstones {
            guard let bytes = HashedKey(key)?.bytes else { continue }
            await mesh.send(to: peer, wait: false) { _ in .delete(key: bytes, until: until, ack: 0) }
        }
        let live = await mesh.livePeers
        let moves = await roles.rebalance(among: live, choose: Self.backup(for:among:))
        var byPeer: [String: [String]] = [:]
        for move in moves {
            byPeer[move.to, default: []].append(move.key)
            if let from = move.from, live.contains(from), let bytes = HashedKey(move.key)?.bytes,
                let copy = try? await local.load(key: move.key, now: Date(timeIntervalSince1970: 0))
            {
                let version = copy.wireVersion
                await mesh.send(to: from, wait: false) { _ in .release(key: bytes, version: version) }
            }
        }
        for (target, keys) in byPeer { await push(keys, to: target) }
        await mesh.send(to: peer, wait: false) { _ in .syncDone }
    }

    /// After `peer` went down: this node owns the sessions it backed up for `peer`, and gives a
    /// new backup to them and to its own sessions that `peer` backed up.
    func reassign(after peer: String) async {
        await roles.takeOver(from: peer)
        let live = await mesh.livePeers
        guard !live.isEmpty else { return }
        let moves = await roles.rebalance(among: live, choose: Self.backup(for:among:))
        var byPeer: [String: [String]] = [:]
        for move in moves { byPeer[move.to, default: []].append(move.key) }
        for (target, keys) in byPeer { await push(keys, to: target) }
        if !moves.isEmpty {
            logger.info("replication (backup): new backups after a peer went down", metadata: ["peer": "\(peer)", "sessions": "\(moves.count)"])
        }
    }

    func flushTouches() async {
        let touches = await state.takeTouches()
        guard !touches.isEmpty else { return }
        var byBackup: [String: [ReplicationMessage.Touch]] = [:]
        for touch in touches {
            guard let hex = HashedKey(bytes: touch.key)?.hex, let backup = await roles.backup(of: hex) else { continue }
            byBackup[backup, default: []].append(touch)
        }
        for (backup, batch) in byBackup {
            for start in stride(from: 0, to: batch.count, by: 10_000) {
                let slice = Array(batch[start..<min(start + 10_000, batch.count)])
                await mesh.send(to: backup, wait: false) { _ in .touches(slice) }
            }
        }
    }
}

/// Who owns each session a `backup` node holds, and which peers this node awaits catch-ups from.
actor BackupRoles {
    struct Holding {
        /// The node that owns the session (this one, or the peer it is a backup for).
        var owner: String
        /// For sessions this node owns: the peer holding the backup.
        var backup: String?
        /// False after this node was cut off or stopped: its next load asks the peers.
        var trusted: Bool
    }

    let node: String
    private var held: [String: Holding] = [:]
    /// Sessions this node is fetching from its peers at this moment (loads in flight, per key).
    private var takingOver: [String: Int] = [:]
    private(set) var syncPending: Set<String> = []
    private var metrics: ReplicationMetrics?
    private var checkRound: [String] = []
    private var checkCursor = 0

    init(node: String) { self.node = node }

    func attach(_ metrics: ReplicationMetrics) { self.metrics = metrics }

    func ownsVerified(_ key: String) -> Bool {
        guard let holding = held[key] else { return false }
        return holding.owner == node && holding.trusted
    }
    func owner(of key: String) -> String? { held[key]?.owner }
    func backup(of key: String) -> String? {
        guard let holding = held[key], holding.owner == node else { return nil }
        return holding.backup
    }
    /// The sessions this node owns that `peer` backs up.
    func owned(backedUpBy peer: String) -> [String] {
        held.filter { $0.value.owner == node && $0.value.backup == peer }.map(\.key)
    }
    func beginTakeover(_ key: String) { takingOver[key, default: 0] += 1 }
    func endTakeover(_ key: String) {
        if let count = takingOver[key], count > 1 { takingOver[key] = count - 1 } else { takingOver[key] = nil }
    }

    /// What this node answers `asker`'s fetch of `key` about its owner (see
    /// `ReplicationMessage.fetched`). It hands the session over (owns it no more, holds it for
    /// the asker) when it owns it, or backs it up for an owner that is gone, and holds a copy.
    func answer(_ key: String, asker: String, live: Set<String>, holdsCopy: Bool) -> (owner: String, handedOver: Bool) {
        if takingOver[key] != nil { return (node, false) }
        guard let holding = held[key] else { return ("", false) }
        let ownerGone = holding.owner != node && holding.owner != asker && !live.contains(holding.owner)
        if holdsCopy, holding.owner == node || ownerGone {
            held[key] = Holding(owner: asker, backup: nil, trusted: true)
            return (asker, true)
        }
        return (holding.owner, false)
    }

    func own(_ key: String, backup: String?) { held[key] = Holding(owner: node, backup: backup, trusted: true) }
    func hold(_ key: String, owner: String) { held[key] = Holding(owner: owner, backup: nil, trusted: true) }
    func forget(_ key: String) { held[key] = nil }
    func distrustAll() {
        for key in held.keys { held[key]?.trusted = false }
    }
    var counts: (owned: Int, backups: Int) {
        let owned = held.values.count { $0.owner == node }
        return (owned, held.count - owned)
    }
    func countTakeover() { metrics?.takeovers.increment() }
    func report() {
        let (owned, backups) = counts
        metrics?.ownedSessions.record(owned)
        metrics?.backupSessions.record(backups)
    }

    /// The sessions `peer` owned and this node backed up are this node's now (their backups are
    /// chosen by `rebalance`); this node's own sessions that `peer` backed up need a new backup.
    func takeOver(from peer: String) {
        for (key, holding) in held {
            if holding.owner == peer {
                held[key] = Holding(owner: node, backup: nil, trusted: holding.trusted)
                metrics?.takeovers.increment()
            } else if holding.owner == node, holding.backup == peer {
                held[key]?.backup = nil
            }
        }
    }

    struct Move {
        var key: String
        var from: String?
        var to: String
    }

    /// For each session this node owns, the backup `choose` picks among `live`; the ones that
    /// change (or had none) are recorded and returned.
    func rebalance(among live: [String], choose: (String, [String]) -> String?) -> [Move] {
        var moves: [Move] = []
        for (key, holding) in held where holding.owner == node {
            guard let target = choose(key, live), target != holding.backup else { continue }
            moves.append(Move(key: key, from: holding.backup, to: target))
            held[key]?.backup = target
        }
        return moves
    }

    /// The next `count` keys to check against the store, in rounds over all of them.
    func nextToCheck(_ count: Int) -> [String] {
        if checkCursor >= checkRound.count {
            checkRound = Array(held.keys)
            checkCursor = 0
        }
        let end = min(checkCursor + count, checkRound.count)
        defer { checkCursor = end }
        return Array(checkRound[checkCursor..<end])
    }

    // MARK: Catching up

    func expectSync(from peer: String) { syncPending.insert(peer) }
    func syncDone(from peer: String) { syncPending.remove(peer) }
    func clearSync() { syncPending = [] }

    /// `peer`'s link is down: its catch-up answer will not come.
    func peerGone(_ peer: String) {
        syncPending.remove(peer)
    }
}

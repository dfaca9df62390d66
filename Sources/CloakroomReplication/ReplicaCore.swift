public import CloakroomCore
import CloakroomSessions
import Foundation
import Logging

/// A node that is catching up from its peers (or was stopped and is not sure of what it holds):
/// it refuses session loads and `/healthz` with 503 rather than serve what may be revoked.
public struct ReplicaNotReady: BackendUnavailableError, CustomStringConvertible {
    public var description: String { "this node is catching up from its replication peers" }
}

/// What the two replicating stores share: their own store, their bookkeeping and their mesh.
protocol ReplicaCore: SessionReplica {
    var local: any CompleteSessionStore { get }
    var state: ReplicaState { get }
    var requests: PeerRequests { get }
    var logger: Logger { get }
}

extension ReplicaCore {
    /// Throws `ReplicaNotReady` while this node catches up, so `/healthz` answers 503 and a
    /// balancer sends it nothing it may not hold yet; then pings the store.
    func pingWhenReady() async throws {
        guard await state.isReady else { throw ReplicaNotReady() }
        try await local.ping()
    }

    /// Writes `record` here if (version, writer) is greater than this node's copy's; never a
    /// buried key. Whether this node's copy is now at least as new as `record`.
    @discardableResult
    func merge(_ record: SessionRecord, origin: String) async throws -> Bool {
        guard await !state.isBuried(record.key) else { return false }
        for _ in 0..<8 {
            if let current = try await local.load(key: record.key, now: Date(timeIntervalSince1970: 0)) {
                let currentOrigin = await state.origin(of: record.key)
                guard (record.version, origin) > (current.version, currentOrigin) else { return true }
                if try await local.update(record, expectedVersion: current.version) {
                    await state.wrote(record.key, by: origin)
                    return true
                }
            } else {
                do {
                    try await local.insert(record)
                    await state.wrote(record.key, by: origin)
                    return true
                } catch let error as StoreError where error.isDuplicateKey {
                    continue
                }
            }
        }
        return false
    }

    /// `record` as a chunk carries it, with its writer; nil for a key that is not a hashed key.
    func synced(_ record: SessionRecord) async -> ReplicationMessage.SyncedRecord? {
        guard let bytes = HashedKey(record.key)?.bytes else { return nil }
        return .init(key: bytes, record: record.binaryEncoded(), origin: await state.origin(of: record.key))
    }

    /// Sends `message` to every live peer and waits for their acknowledgements (at most
    /// `ackTimeout`); `keys` are remembered for each peer that may not have had it (down, or no
    /// acknowledgement), and sent it when its link is up (`flushHints`).
    func replicate(_ keys: [String], _ message: @Sendable (UInt64) -> ReplicationMessage) async {
        let unreached = await mesh.broadcast(wait: true, message)
        if !unreached.isEmpty { await state.hint(keys, for: unreached) }
    }

    /// A peer's answer to a `fetch` this node sent (an empty record: it has none).
    func receiveFetched(_ request: UInt64, record: [UInt8], origin: String, owner: String, handedOver: Bool, from peer: String) async {
        let items = record.isEmpty ? [] : [ReplicationMessage.SyncedRecord(key: [], record: record, origin: origin)]
        await requests.answer(request, from: peer, items, owner: owner, handedOver: handedOver)
    }

    /// Answers a peer's `fetch` with this node's copy of the session (and its writer), or with
    /// nothing when it holds none or deleted it.
    func answerFetch(_ key: [UInt8], request: UInt64, from peer: String) async throws {
        guard let hex = HashedKey(bytes: key)?.hex else { return await sendFetched(nil, request: request, to: peer) }
        await sendFetched(try await copyToAnswer(hex), request: request, to: peer)
    }

    /// This node's copy of a session a peer fetches: nil when it holds none or deleted it.
    func copyToAnswer(_ key: String) async throws -> SessionRecord? {
        guard await !state.isBuried(key) else { return nil }
        return try await local.load(key: key, now: Date(timeIntervalSince1970: 0))
    }

    /// Sends `peer` the answer to its fetch `request`: `copy` with its writer (an empty record
    /// when there is none), and what this node says of the owner (`backup` only).
    func sendFetched(_ copy: SessionRecord?, request: UInt64, owner: String = "", handedOver: Bool = false, to peer: String) async {
        let origin = if let copy { await state.origin(of: copy.key) } else { "" }
        let answer = ReplicationMessage.fetched(
            request: request,
            record: copy?.binaryEncoded() ?? [],
            origin: origin,
            owner: owner,
            handedOver: handedOver
        )
        await mesh.send(to: peer, wait: false) { _ in answer }
    }

    /// Applies a peer's batched sliding-expiry moves to the sessions held here (a later one only).
    func applyTouches(_ touches: [ReplicationMessage.Touch]) async throws {
        for touch in touches {
            guard let hex = HashedKey(bytes: touch.key)?.hex,
                let current = try await local.load(key: hex, now: Date(timeIntervalSince1970: 0)),
                ReplicatedSessionStore.ms(current.lastSeen) < touch.lastSeen
            else { continue }
            try await local.touch(
                key: hex,
                lastSeen: ReplicatedSessionStore.date(touch.lastSeen),
                idleExpiresAt: ReplicatedSessionStore.date(touch.idleExpiresAt)
            )
        }
    }

    /// Sweeps the store, the tombstones past their end, and the writers of sessions gone (a
    /// bounded share per call, every one visited over successive sweeps). How many sessions went.
    func sweep(now: Date, limit: Int) async throws -> Int {
        await state.forgetTombstones(before: ReplicatedSessionStore.ms(now))
        let removed = try await local.deleteExpired(now: now, limit: limit)
        for key in await state.nextOriginsToCheck(max(limit, 1))
        where try await local.load(key: key, now: Date(timeIntervalSince1970: 0)) == nil {
            await state.forgetOrigin(key)
        }
        return removed
    }

    /// Sends each live peer the sessions written here that it may have missed (see
    /// `ReplicaState.hint`): the current copy of each key it `still` should hold, or its
    /// tombstone, in acknowledged chunks of 256 (what is not acknowledged stays for the next
    /// turn); `everything` it should hold when it missed more than the hints keep.
    func flushHints(
        still: (_ key: String, _ peer: String) async -> Bool,
        everything: (_ peer: String) async -> Void
    ) async {
        let live = Set(await mesh.livePeers)
        for peer in await state.hintedPeers where live.contains(peer) {
            while true {
                let (keys, overflowed) = await state.takeHints(for: peer, limit: 256)
                if overflowed {
                    logger.warning("replication: a peer missed too many writes; sending it all it should hold", metadata: ["peer": "\(peer)"])
                    await everything(peer)
                    break
                }
                guard !keys.isEmpty else { break }
                var items: [ReplicationMessage.SyncedRecord] = []
                for key in keys {
                    guard let bytes = HashedKey(key)?.bytes else { continue }
                    if let until = await state.tombstone(of: key) {
                        await mesh.send(to: peer, wait: false) { _ in .delete(key: bytes, until: until, ack: 0) }
                    } else if await still(key, peer), let record = try? await local.load(key: key, now: Date(timeIntervalSince1970: 0)),
                        let item = await synced(record)
                    {
                        items.append(item)
                    }
                }
                // The link is ordered: the chunks' acknowledgements cover the deletes before them.
                guard await sendChunked(items, to: peer, evenIfEmpty: true) else {
                    await state.hint(keys, for: [peer])
                    break
                }
            }
        }
    }

    /// Sends `items` to `peer` as `syncChunk`s within the frame budget, each acknowledged before
    /// the next; whether all were. With `evenIfEmpty`, an empty list is one empty chunk (its
    /// acknowledgement says the messages before it arrived).
    func sendChunked(_ items: [ReplicationMessage.SyncedRecord], to peer: String, evenIfEmpty: Bool = false) async -> Bool {
        let chunks = items.isEmpty && evenIfEmpty ? [[]] : ReplicationMessage.chunks(items)
        for chunk in chunks {
            guard await mesh.send(to: peer, wait: true, bulk: true, { .syncChunk(chunk, ack: $0) }) else { return false }
        }
        return true
    }

    /// Every 250 ms: `flush` (touches to peers), then the sessions-held gauge.
    func startFlusher(_ flush: @escaping @Sendable () async -> Void) async {
        let local = self.local
        let state = self.state
        let flusher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                await flush()
                if let memory = local as? MemorySessionStore { await state.report(sessions: await memory.count) }
            }
        }
        await state.keep(flusher)
    }
}

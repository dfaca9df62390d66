import CloakroomCore
import CloakroomReplication
import CloakroomSessions
import Foundation
import Logging

/// `cloakroom bench replication`: the `replicated` (all-to-all) and `backup` (primary/backup)
/// topologies' cost in one process, N nodes linked over real TCP on loopback with the cluster
/// secret, against one bare memory store (N = 1).
///
/// For each N: sign-ins per second through node1 (each returns once every peer has applied it),
/// data writes per second (acknowledged as sign-ins are), replication messages and bytes sent per write
/// (all nodes together, heartbeats measured on an idle second and taken out), and heap bytes per
/// session per node once every node holds `sessions` of them.
package struct ReplicationBenchmark: Sendable {
    /// Which store the nodes run.
    package enum Topology: String, Sendable {
        case replicated, backup
    }

    package struct Row: Sendable {
        package var topology: Topology
        package var nodes: Int
        package var signIns = 0.0
        package var writes = 0.0
        package var messagesPerWrite = 0.0
        package var bytesPerWrite = 0.0
        package var heapPerSessionPerNode = 0.0
    }

    let writes: Int
    let sessions: Int
    let concurrency: Int
    let logger = Logger(label: "cloakroom.bench") { _ in SwiftLogNoOpLogHandler() }

    package init(writes: Int, sessions: Int, concurrency: Int) {
        self.writes = writes
        self.sessions = sessions
        self.concurrency = concurrency
    }

    package func run(nodes: Int, topology: Topology) async throws -> Row {
        var row = Row(topology: topology, nodes: nodes)
        let secret = try ClusterSecret(bytes: Base64URL.decode(SecureToken(byteCount: 32).text) ?? [])
        let heapBefore = heapBytesInUse()
        var replicated: [any SessionReplica] = []
        let stores: [any CompleteSessionStore]
        if nodes == 1 {
            stores = [MemorySessionStore()]
        } else {
            switch topology {
            case .replicated: replicated = try await ReplicatedSessionStore.startLocal(count: nodes, secret: secret, logger: logger)
            case .backup: replicated = try await BackupSessionStore.startLocal(count: nodes, secret: secret, logger: logger)
            }
            stores = replicated
        }
        let writer = stores[0]
        // Heartbeats on an idle second, to take out of the per-write figures.
        let idleStart = await traffic(replicated)
        try await Task.sleep(for: .seconds(1))
        let heartbeatRate = Double(await traffic(replicated).messages - idleStart.messages)
        let heartbeatBytesRate = Double(await traffic(replicated).bytes - idleStart.bytes)

        let now = Date()
        let records = (0..<writes).map { index in
            SessionRecord(
                key: SecureToken.hash("bench-\(index)-\(UUID())"),
                handle: "h\(index)",
                userID: "user\(index % 1000)",
                data: ["cart": String(repeating: "x", count: 200)],
                createdAt: now,
                lastSeen: now,
                idleExpiresAt: now.addingTimeInterval(3600),
                absoluteExpiresAt: now.addingTimeInterval(7200)
            )
        }
        let before = await traffic(replicated)
        var started = ContinuousClock.now
        try await Self.parallel(records, concurrency: concurrency) { try await writer.insert($0) }
        let signInTime = (ContinuousClock.now - started).seconds
        row.signIns = Double(writes) / signInTime
        started = ContinuousClock.now
        try await Self.parallel(records, concurrency: concurrency) { record in
            var next = record
            next.version = 2
            next.data["cart"] = String(repeating: "y", count: 200)
            _ = try await writer.update(next, expectedVersion: 1)
        }
        let writeTime = (ContinuousClock.now - started).seconds
        row.writes = Double(writes) / writeTime
        if nodes > 1 {
            // Until every copy has the last update (acknowledged, but checked); read from each
            // node's own store (a `backup` node's load would fetch from the owner instead).
            for store in replicated.dropFirst() {
                for _ in 0..<2000 {
                    guard let last = records.last, let copy = try await store.localStore.load(key: last.key, now: now) else { break }
                    if copy.version == 2 { break }
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            let after = await traffic(replicated)
            let elapsed = signInTime + writeTime
            row.messagesPerWrite = (Double(after.messages - before.messages) - heartbeatRate * elapsed) / Double(2 * writes)
            row.bytesPerWrite = (Double(after.bytes - before.bytes) - heartbeatBytesRate * elapsed) / Double(2 * writes)
        }
        // Memory: every node holding `sessions` (the writes above plus more through node1).
        let more = max(sessions - writes, 0)
        var batch: [SessionRecord] = []
        for index in 0..<more {
            var record = records[index % records.count]
            record.key = SecureToken.hash("more-\(index)-\(UUID())")
            batch.append(record)
            if batch.count == 10_000 || index == more - 1 {
                try await Self.parallel(batch, concurrency: concurrency) { try await writer.insert($0) }
                batch.removeAll(keepingCapacity: true)
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        row.heapPerSessionPerNode = Double(heapBytesInUse() - heapBefore) / Double(max(sessions, writes) * nodes)
        for store in replicated { await store.stop() }
        return row
    }

    private func traffic(_ stores: [any SessionReplica]) async -> (messages: Int, bytes: Int) {
        var total = (messages: 0, bytes: 0)
        for store in stores {
            let sent = await store.mesh.sentTraffic
            total.messages += sent.messages
            total.bytes += sent.bytes
        }
        return total
    }

    static func parallel(_ records: [SessionRecord], concurrency: Int, _ body: @escaping @Sendable (SessionRecord) async throws -> Void) async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            let slice = (records.count + concurrency - 1) / concurrency
            for start in stride(from: 0, to: records.count, by: max(slice, 1)) {
                let part = Array(records[start..<min(start + slice, records.count)])
                group.addTask { for record in part { try await body(record) } }
            }
            try await group.waitForAll()
        }
    }
}

import CloakroomCore
package import Logging

extension ReplicatedSessionStore {
    /// `count` all-to-all nodes in this process; see `startLocalReplicas`.
    package static func startLocal(
        count: Int,
        secret: ClusterSecret,
        joinWait: Duration = .milliseconds(300),
        logger: Logger = Logger(label: "cloakroom.replication")
    ) async throws -> [ReplicatedSessionStore] {
        try await startLocalReplicas(count: count, secret: secret, logger: logger) {
            ReplicatedSessionStore(mesh: $0, joinWait: joinWait, logger: logger)
        }
    }
}

extension BackupSessionStore {
    /// `count` primary/backup nodes in this process; see `startLocalReplicas`.
    package static func startLocal(
        count: Int,
        secret: ClusterSecret,
        joinWait: Duration = .milliseconds(300),
        logger: Logger = Logger(label: "cloakroom.replication")
    ) async throws -> [BackupSessionStore] {
        try await startLocalReplicas(count: count, secret: secret, logger: logger) {
            BackupSessionStore(mesh: $0, joinWait: joinWait, logger: logger)
        }
    }
}

/// `count` nodes in this process (`node1`…), each listening on a free loopback port and given
/// every other as a peer, started one after another; returns once every pair is linked (or
/// after 4 s). For tests and benchmarks.
package func startLocalReplicas<Store: SessionReplica>(
    count: Int,
    secret: ClusterSecret,
    logger: Logger,
    make: (PeerMesh) -> Store
) async throws -> [Store] {
    let ports = try (0..<count).map { _ in
        guard let port = LoopbackSocket.freePort() else { throw ClusterSecret.Problem("no free port on 127.0.0.1") }
        return port
    }
    var stores: [Store] = []
    for index in 0..<count {
        let peers = ports.enumerated().filter { $0.offset != index }.map { PeerMesh.Address(host: "127.0.0.1", port: $0.element) }
        let mesh = PeerMesh(
            configuration: .init(identity: PeerIdentity(nodeID: "node\(index + 1)"), secret: secret, port: ports[index], peers: peers),
            logger: logger
        )
        let store = make(mesh)
        try await store.start()
        stores.append(store)
    }
    for _ in 0..<200 {
        var linked = true
        for store in stores where await store.mesh.livePeers.count != count - 1 { linked = false }
        if linked { break }
        try await Task.sleep(for: .milliseconds(20))
    }
    return stores
}

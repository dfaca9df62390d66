public import CloakroomSessions

/// A session store whose copies live on the nodes themselves, linked by a `PeerMesh`: the
/// `replicated` topology (`ReplicatedSessionStore`, every node holds every session) or `backup`
/// (`BackupSessionStore`, an owner and one backup per session). The server starts, reports on and
/// stops either the same way.
public protocol SessionReplica: CompleteSessionStore, Sendable {
    /// The links to the peers.
    var mesh: PeerMesh { get }
    /// The sessions this node holds itself (loads on it never ask a peer).
    var localStore: any CompleteSessionStore { get }
    /// Whether this node holds what it should (false while it catches up).
    var isReady: Bool { get async }
    /// Records and bytes received while catching up.
    var catchUp: (records: Int, bytes: Int) { get async }
    /// Starts the mesh, then catches up; returns when this node is ready.
    func start() async throws
    /// Starts listening for peers and dialling them (returns once the listener is bound).
    func startMesh() async throws
    /// Waits for peers and takes from them what this node should hold; then it is ready.
    func catchUp() async throws
    /// Reports on `metrics` from now on.
    func attach(_ metrics: ReplicationMetrics) async
    /// Stops replicating (the local store is left as it is).
    func stop() async
}

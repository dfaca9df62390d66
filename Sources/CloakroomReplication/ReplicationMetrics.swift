public import CoreMetrics

/// What replication does, in Prometheus terms (on the server's `/metrics`, read by `cloakroom
/// cluster status`): `cloakroom_replication_peers` (live links), `cloakroom_replication_ready`
/// (1 once caught up), `cloakroom_replication_sessions` (sessions held here),
/// `cloakroom_replication_messages_total{direction}` and `cloakroom_replication_bytes_total{direction}`
/// (`sent`, `received`; heartbeats included), `cloakroom_replication_unacknowledged_writes_total`
/// (acknowledged writes that went on without some peer) and `cloakroom_replication_ack_seconds`
/// (how long a write waited for every peer). The `backup` topology adds
/// `cloakroom_replication_sessions_owned` and `cloakroom_replication_sessions_backup` (sessions
/// this node owns, and keeps for others), `cloakroom_replication_remote_fetches_total` (loads of a
/// session this node did not own, which asked the peers: one extra hop) and
/// `cloakroom_replication_takeovers_total` (sessions this node became the owner of).
/// `cloakroom_replication_peer_up{peer}` is 1 while the link to that peer is up, 0 after.
public struct ReplicationMetrics: Sendable {
    let peers: Gauge
    let ready: Gauge
    let sessions: Gauge
    let messagesSent: Counter
    let messagesReceived: Counter
    let bytesSent: Counter
    let bytesReceived: Counter
    let unacknowledged: Counter
    let ackWait: CoreMetrics.Timer
    let ownedSessions: Gauge
    let backupSessions: Gauge
    let remoteFetches: Counter
    let takeovers: Counter
    private let factory: any MetricsFactory

    /// Records whether the link to `peer` is up.
    func peer(_ peer: String, isUp: Bool) {
        Gauge(label: "cloakroom_replication_peer_up", dimensions: [("peer", peer)], factory: factory).record(isUp ? 1 : 0)
    }

    /// Figures made on `factory` (one registry per server; nothing is bootstrapped globally).
    public init(factory: any MetricsFactory) {
        self.factory = factory
        peers = Gauge(label: "cloakroom_replication_peers", factory: factory)
        ready = Gauge(label: "cloakroom_replication_ready", factory: factory)
        sessions = Gauge(label: "cloakroom_replication_sessions", factory: factory)
        messagesSent = Counter(label: "cloakroom_replication_messages_total", dimensions: [("direction", "sent")], factory: factory)
        messagesReceived = Counter(label: "cloakroom_replication_messages_total", dimensions: [("direction", "received")], factory: factory)
        bytesSent = Counter(label: "cloakroom_replication_bytes_total", dimensions: [("direction", "sent")], factory: factory)
        bytesReceived = Counter(label: "cloakroom_replication_bytes_total", dimensions: [("direction", "received")], factory: factory)
        unacknowledged = Counter(label: "cloakroom_replication_unacknowledged_writes_total", factory: factory)
        ackWait = CoreMetrics.Timer(label: "cloakroom_replication_ack_seconds", factory: factory)
        ownedSessions = Gauge(label: "cloakroom_replication_sessions_owned", factory: factory)
        backupSessions = Gauge(label: "cloakroom_replication_sessions_backup", factory: factory)
        remoteFetches = Counter(label: "cloakroom_replication_remote_fetches_total", factory: factory)
        takeovers = Counter(label: "cloakroom_replication_takeovers_total", factory: factory)
    }
}

public import Foundation

/// How users reach their sessions when several nodes serve them.
public enum ClusterTopology: String, Codable, Sendable, CaseIterable {
    /// HAProxy pins each browser to one node with a cookie; each node keeps its own sessions.
    case sticky
    /// HAProxy spreads requests round robin; every node reads and writes one central store.
    case central
    /// HAProxy spreads requests round robin; every node holds every session, copied between the
    /// nodes (`serve --replication all`), and accounts are shared.
    case replicated
    /// HAProxy pins each browser to a node with a cookie (the session's owner); each session is
    /// also copied to one backup node (`serve --replication backup`), and accounts are shared.
    case backup

    /// Whether the nodes copy sessions between themselves (`replicated`, `backup`).
    public var replicates: Bool { self == .replicated || self == .backup }
    /// Whether HAProxy pins each browser to a node with a cookie (`sticky`, `backup`).
    public var pinsBrowsers: Bool { self == .sticky || self == .backup }
}

/// What `cloakroom cluster up` starts, written to `cluster.json` in the cluster's folder so that
/// `status`, `kill`, `hang`, `start` and `down` find exactly those processes again.
public struct ClusterState: Codable, Sendable, Equatable {
    /// One process the cluster started.
    public struct Process: Codable, Sendable, Equatable {
        /// `node1`, `haproxy`, `redis` (or `redis1`…`redis6`, a Redis Cluster), `postgres`.
        public var name: String
        /// The loopback port it listens on.
        public var port: Int
        /// Its process ID while it runs (nil once stopped).
        public var pid: Int32?
        /// The program, to tell the process from another that reused its ID.
        public var program: String
        /// A node's replication port (the `replicated` and `backup` topologies).
        public var replicationPort: Int?

        public init(name: String, port: Int, pid: Int32? = nil, program: String) {
            self.name = name
            self.port = port
            self.pid = pid
            self.program = program
        }
    }

    /// Identifies the cluster: `up` refuses a folder holding another one.
    public var id: String
    public var topology: ClusterTopology
    /// The users' port (HAProxy's frontend).
    public var port: Int
    /// HAProxy's statistics page (`/stats`, also `/stats;csv`).
    public var statsPort: Int
    /// The session store URL every node is given.
    public var store: String
    /// The account store URL every node is given.
    public var accounts: String
    public var nodes: [Process]
    public var haproxy: Process
    /// Servers `up` started itself for the store and accounts (none when URLs were given).
    public var backing: [Process]
    /// With `--tls-cert`: the PEM file HAProxy serves users HTTPS with (nil: plain HTTP).
    public var tlsCertificate: String?

    /// The users' URL: `https://` with a certificate.
    public var url: String { "\(tlsCertificate == nil ? "http" : "https")://127.0.0.1:\(port)" }

    public init(
        id: String,
        topology: ClusterTopology,
        port: Int,
        statsPort: Int,
        store: String,
        accounts: String,
        nodes: [Process],
        haproxy: Process,
        backing: [Process],
        tlsCertificate: String? = nil
    ) {
        self.tlsCertificate = tlsCertificate
        self.id = id
        self.topology = topology
        self.port = port
        self.statsPort = statsPort
        self.store = store
        self.accounts = accounts
        self.nodes = nodes
        self.haproxy = haproxy
        self.backing = backing
    }

    /// The file the state lives in, inside the cluster's folder.
    public static func file(in directory: URL) -> URL { directory.appendingPathComponent("cluster.json") }

    /// The state saved in `directory`, or nil when there is none.
    public static func load(from directory: URL) throws -> ClusterState? {
        let url = file(in: directory)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(ClusterState.self, from: Data(contentsOf: url))
        } catch {
            throw ClusterError("\(url.path) is not a cluster state file (\(error)): use another --dir")
        }
    }

    /// Writes the state to `directory` (atomically).
    public func save(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Owner-only: it names the store URLs, which may hold passwords.
        let url = Self.file(in: directory)
        try encoder.encode(self).write(to: url, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
    }

    /// What Redis `up` started for sessions (nil: none, a store URL was given).
    public var startedRedis: ClusterManager.RedisKind? {
        if backing.contains(where: { $0.name == "redis" }) { return .single }
        if backing.contains(where: { $0.name == "redis1" }) { return .cluster }
        return nil
    }

    /// The node named `name` (`node2`, or just `2`).
    public func nodeIndex(_ name: String) -> Int? {
        let wanted = name.hasPrefix("node") ? name : "node" + name
        return nodes.firstIndex { $0.name == wanted }
    }
}

/// A cluster command that cannot do what it was asked; the message says why.
public struct ClusterError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

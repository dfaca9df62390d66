import ArgumentParser
import CloakroomCluster
import CloakroomReplication
import Foundation

/// `cloakroom cluster`: N nodes behind HAProxy on loopback, with their store, for trying failures.
struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run several nodes behind HAProxy on this machine (sticky sessions or a central store) and break them on purpose.",
        discussion: """
            up writes haproxy.cfg and cluster.json into --dir and starts everything detached; the other \
            subcommands find the processes there. See docs/cluster.md.
            """,
        subcommands: [Up.self, Status.self, Add.self, Kill.self, Hang.self, Start.self, Down.self, Secret.self]
    )

    struct Folder: ParsableArguments {
        @Option(help: "The cluster's folder (state, configuration, logs, data). Default ./cloakroom-cluster")
        var dir = "cloakroom-cluster"

        func manager() -> ClusterManager {
            ClusterManager(directory: URL(fileURLWithPath: dir), executable: Cluster.executable()) { print($0) }
        }
    }

    /// This very program: the nodes run the same build as the command that starts them.
    static func executable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    @discardableResult
    static func failing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ClusterError {
            throw CommandFailure(error.description)
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start the cluster, or what of it is not running.")
        @Option(help: "Nodes (1-16)") var nodes = 3
        @Option(
            help:
                "sticky (HAProxy pins each browser to a node; memory store per node), central (round robin; one store), replicated (round robin; every node holds every session, copied between nodes) or backup (HAProxy pins each browser to the node that owns its session; each session has one backup node)"
        )
        var topology: String = "central"
        @Option(
            help:
                "Session store URL for every node. Default: central starts a Redis Cluster (see --redis); sticky gives each node its own memory store"
        )
        var store: String?
        @Option(
            help: "What central starts without --store: cluster (3 primaries + 3 replicas, redis-cli --cluster create) or single (one redis-server)"
        )
        var redis: String = "cluster"
        @Option(help: "Account store URL. Default: central starts a PostgreSQL; sticky shares an SQLite file in the folder")
        var accounts: String?
        @Option(help: "The users' port (HAProxy on 127.0.0.1)") var port = 8080
        @Option(
            help:
                "A PEM file with a certificate chain and its private key: HAProxy serves users HTTPS, the nodes run with --secure (__Host- cookie, Secure, HSTS) and the sticky cookie is Secure"
        )
        var tlsCert: String?
        @OptionGroup var folder: Folder

        func validate() throws {
            guard ClusterTopology(rawValue: topology) != nil else {
                throw ValidationError("topology \(topology) is not sticky, central, replicated or backup")
            }
            guard ClusterManager.RedisKind(rawValue: redis) != nil else { throw ValidationError("--redis \(redis) is not cluster or single") }
            guard (1...16).contains(nodes) else { throw ValidationError("--nodes must be 1 to 16") }
            guard (1...65535).contains(port) else { throw ValidationError("--port must be 1 to 65535") }
        }

        func run() async throws {
            var request = ClusterManager.Request(
                nodes: nodes,
                topology: ClusterTopology(rawValue: topology) ?? .central,
                store: store,
                accounts: accounts,
                port: port,
                redis: ClusterManager.RedisKind(rawValue: redis) ?? .cluster
            )
            request.tlsCertificate = tlsCert
            try await Cluster.failing { try await folder.manager().up(request) }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each node's process, health, HAProxy's view of it, requests and sessions.")
        @OptionGroup var folder: Folder
        func run() async throws { print(try await Cluster.failing { try await folder.manager().status() }) }
    }

    struct Kill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "SIGKILL a node (a crash), or a Redis or PostgreSQL the cluster started.")
        @Argument(help: "node1, node2 … (or 1, 2 …), redis, redis1 … redis6, postgres") var node: String
        @OptionGroup var folder: Folder
        func run() async throws { try await Cluster.failing { try folder.manager().kill(node: node) } }
    }

    struct Hang: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "SIGSTOP a node, Redis or PostgreSQL (it holds connections and answers nothing).")
        @Argument(help: "node1, node2 … (or 1, 2 …), redis, redis1 … redis6, postgres") var node: String
        @OptionGroup var folder: Folder
        func run() async throws { try await Cluster.failing { try folder.manager().hang(node: node) } }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a hung node, Redis or PostgreSQL, or start a dead one again.")
        @Argument(help: "node1, node2 … (or 1, 2 …), redis, redis1 … redis6, postgres") var node: String
        @OptionGroup var folder: Folder
        func run() async throws { try await Cluster.failing { try await folder.manager().start(node: node) } }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a node to the running cluster (a replicating one catches up first), then reload HAProxy with it."
        )
        @OptionGroup var folder: Folder
        func run() async throws { try await Cluster.failing { try await folder.manager().add() } }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every process up started (and nothing else); files stay.")
        @OptionGroup var folder: Folder
        func run() async throws { try await Cluster.failing { try await folder.manager().down() } }
    }

    struct Secret: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new cluster secret (32 random bytes, base64url) to a file only its owner may read.",
            discussion: "Every node of a replicated cluster reads the same file (see docs/replication.md). An existing file is never overwritten."
        )
        @Argument(help: "The file to create") var file: String

        func run() throws {
            do {
                try ClusterSecret.create(at: URL(fileURLWithPath: file))
            } catch {
                throw CommandFailure("\(error)")
            }
            print("wrote a cluster secret to \(file) (mode 0600)")
        }
    }
}

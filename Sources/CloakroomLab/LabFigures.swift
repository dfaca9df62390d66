import Foundation

/// Everything one `cloakroom lab topologies` run measured, written as JSON beside the report; the
/// report (and every verdict in it) is computed from this alone, so `cloakroom lab report` can
/// draw it again from an edited copy.
public struct LabFigures: Codable, Sendable, Equatable {
    /// The machine the lab ran on.
    public struct Machine: Codable, Sendable, Equatable {
        public var cores: Int
        public var memoryBytes: UInt64
        public var system: String
        public var date: String
    }

    /// What the lab was asked to do.
    public struct Settings: Codable, Sendable, Equatable {
        public var nodes: Int
        public var users: Int
        public var durationSeconds: Double
        /// Requests per second, sent on schedule (open loop) whatever the answers' pace.
        public var rate: Double
        public var sessionBytes: [Int]
        public var topologies: [String]
    }

    /// One kind of request: how many and how many failed over the whole run, and the latencies
    /// in the steady state before the first fault (from the moment each was due, so a slow
    /// topology cannot hide by sending less); the faults are measured per fault.
    public struct Kind: Codable, Sendable, Equatable {
        public var sent = 0
        public var failed = 0
        public var p50 = 0.0
        public var p99 = 0.0
        public var p999 = 0.0
        public var perSecond = 0.0
    }

    /// One fault and what it did.
    public struct Fault: Codable, Sendable, Equatable {
        /// `kill node2`, `hang node3 5s`, `add node4`.
        public var name: String
        /// Seconds after the load started.
        public var at: Double
        /// Requests that failed (5xx or no answer) from this fault until the next one.
        public var failedRequests = 0
        /// From the fault to the last failed request it caused (0 when none failed).
        public var errorWindowSeconds = 0.0
        /// Users whose session stopped working (401 or a new session) from this fault until the next.
        public var signedOut = 0
        /// For a killed node: users pinned to it (by the balancer's cookie) and signed in when it died.
        public var pinnedToNode: Int?
    }

    /// One topology at one session size.
    public struct Run: Codable, Sendable, Equatable {
        public var topology: String
        public var sessionBytes: Int
        /// `signIn`, `read`, `write`, `signOut`.
        public var kinds: [String: Kind] = [:]
        public var faults: [Fault] = []
        /// Requests due that found every simulated browser busy (the client's own limit).
        public var notSent = 0
        /// Acknowledged writes (200) a later read of the same session did not show.
        public var acknowledgedWritesLost = 0
        /// Reads that checked the last acknowledged write.
        public var writesChecked = 0
        /// After a sign-out through the balancer, how long the session still worked through some
        /// other node (the worst of the samples), in milliseconds.
        public var revokedStillWorksMs = 0.0
        public var revocationSamples = 0
        /// Resident memory per node (and backing process) before the kill, in bytes.
        public var memoryPerProcess: [String: UInt64] = [:]
        /// Growth of all processes' resident memory over the sessions held, per session.
        public var bytesPerSession = 0.0
        public var sessionsHeld = 0
        /// Replication messages and bytes (all nodes' sends, heartbeats taken out) per
        /// acknowledged write; nil when the nodes do not replicate.
        public var messagesPerWrite: Double?
        public var bytesPerWrite: Double?
        /// `cluster add`: until the new node was healthy and in the balancer; bytes it received.
        public var joinSeconds = 0.0
        public var joinBytes: Int?
        /// Each node's share of requests before the faults.
        public var spread: [String: Double] = [:]
    }

    /// `cloakroom bench replication`'s figures, in one process: one bare memory store (nodes 1),
    /// then each replicating topology at 2, 3 and 5 nodes.
    public struct BenchmarkRow: Codable, Sendable, Equatable {
        public var topology: String
        public var nodes: Int
        public var signInsPerSecond: Double
        public var writesPerSecond: Double
        public var messagesPerWrite: Double
        public var bytesPerWrite: Double
        public var heapBytesPerSessionPerNode: Double
        /// Sessions every node held for the heap figure.
        public var sessions: Int
    }

    public var machine: Machine
    public var settings: Settings
    public var runs: [Run]
    public var benchmark: [BenchmarkRow]?
}

extension LabFigures.Run {
    /// Users signed out by every fault together.
    var signedOut: Int { faults.reduce(0) { $0 + $1.signedOut } }
    /// Failed requests over the whole run.
    var failed: Int { kinds.values.reduce(0) { $0 + $1.failed } }
    /// Requests per second over the whole run.
    var throughput: Double { kinds.values.reduce(0) { $0 + $1.perSecond } }
    /// The longest error window of any fault.
    var longestErrorWindow: Double { faults.map(\.errorWindowSeconds).max() ?? 0 }
    var readP99: Double { kinds["read"]?.p99 ?? 0 }
}

/// A verdict: which topology came out best on one measured figure, and why.
public struct LabVerdict: Sendable, Equatable {
    public var question: String
    public var answer: String
}

extension LabFigures {
    /// The verdicts for runs with `sessionBytes`, each computed from the figures: the best
    /// topology on each question (ties named together), and what the sticky topology lost
    /// against what it was expected to lose.
    public func verdicts(sessionBytes: Int) -> [LabVerdict] {
        let runs = self.runs.filter { $0.sessionBytes == sessionBytes }
        guard !runs.isEmpty else { return [] }
        var verdicts: [LabVerdict] = []
        func best(_ question: String, lowerIsBetter: Bool = true, _ value: (Run) -> Double?, format: (Double) -> String) {
            let measured = runs.compactMap { run in value(run).map { (run.topology, $0) } }
            guard let top = lowerIsBetter ? measured.map(\.1).min() : measured.map(\.1).max() else { return }
            // Equal as printed is a tie.
            let winners = measured.filter { format($0.1) == format(top) }.map(\.0)
            let others = measured.filter { !winners.contains($0.0) }.sorted { lowerIsBetter ? $0.1 < $1.1 : $0.1 > $1.1 }
            let rest = others.map { "\($0.0) \(format($0.1))" }.joined(separator: ", ")
            verdicts.append(
                LabVerdict(
                    question: question,
                    answer: "\(winners.joined(separator: " and ")) (\(format(top)))" + (rest.isEmpty ? "" : "; then \(rest)")
                )
            )
        }
        best("Fewest users signed out by the faults", { Double($0.signedOut) }, format: { "\(Int($0))" })
        best("Fewest failed requests", { Double($0.failed) }, format: { "\(Int($0))" })
        best("Shortest error window after a fault", { $0.longestErrorWindow }, format: { String(format: "%.2f s", $0) })
        best("Fewest acknowledged writes lost", { Double($0.acknowledgedWritesLost) }, format: { "\(Int($0))" })
        best("Lowest read p99", { $0.readP99 }, format: { String(format: "%.1f ms", $0) })
        best("Most requests per second", lowerIsBetter: false, { $0.throughput }, format: { String(format: "%.0f/s", $0) })
        best("Least memory per session (all processes)", { $0.bytesPerSession }, format: { "\(Int($0)) B" })
        best("Shortest time a revoked session still works elsewhere", { $0.revokedStillWorksMs }, format: { String(format: "%.0f ms", $0) })
        best("Fewest replication bytes per write (replicating topologies)", { $0.bytesPerWrite }, format: { "\(Int($0)) B" })
        best("Quickest node join", { $0.joinSeconds }, format: { String(format: "%.1f s", $0) })
        for run in runs where run.topology == "sticky" {
            guard let kill = run.faults.first(where: { $0.name.hasPrefix("kill") }), let pinned = kill.pinnedToNode else { continue }
            let answer: String
            if kill.signedOut < pinned {
                answer =
                    "signed out \(kill.signedOut) of the \(pinned) users pinned to the killed node: fewer than expected, because \(pinned - kill.signedOut) of them made no request between the kill and the end of the run or signed out on their own first"
            } else if kill.signedOut == pinned {
                answer = "signed out exactly the \(pinned) users pinned to the killed node, as expected"
            } else {
                answer = "signed out \(kill.signedOut) users, more than the \(pinned) pinned to the killed node"
            }
            verdicts.append(LabVerdict(question: "Sticky sessions at the kill", answer: answer))
        }
        let safe = runs.filter { $0.signedOut == 0 && $0.acknowledgedWritesLost == 0 }
        if let pick = safe.min(by: { $0.readP99 < $1.readP99 }) {
            verdicts.append(
                LabVerdict(
                    question: "Overall, for this workload",
                    answer:
                        "\(pick.topology): nobody signed out and no acknowledged write lost, with the lowest read p99 of those that managed it (\(String(format: "%.1f ms", pick.readP99)))"
                )
            )
        } else {
            let least = runs.min { ($0.signedOut, $0.acknowledgedWritesLost) < ($1.signedOut, $1.acknowledgedWritesLost) }
            verdicts.append(
                LabVerdict(
                    question: "Overall, for this workload",
                    answer: "no topology went through the faults without signing someone out or losing a write; \(least?.topology ?? "?") lost least"
                )
            )
        }
        return verdicts
    }
}

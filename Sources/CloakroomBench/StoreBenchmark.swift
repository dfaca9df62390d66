import CloakroomCore
import CloakroomSessions
import Foundation
import Synchronization

/// Measures one `SessionStore`: create, read, touch and expire N sessions, bytes per session, and
/// the backend's raw ceiling in the same run, so each step reads as a ratio of what the backend
/// itself can do.
struct StoreBenchmark {
    struct Result {
        var store: String
        var count: Int
        var create = 0.0
        var read = 0.0
        var touch = 0.0
        var expire = 0.0
        var bytesPerSession: Double?
        /// Bytes of the session's own content (its compact binary encoding), to separate overhead.
        var payloadBytes: Double = 0
        var bytesNote = ""
        var ceiling: Double?
        var ceilingNote = ""
        var latencyIdle: LatencySummary?
        var latencySweeping: LatencySummary?
    }

    struct LatencySummary {
        var p50: Double
        var p99: Double
        var max: Double
        var samples: Int

        init(_ values: [Double]) {
            let sorted = values.sorted()
            samples = sorted.count
            p50 = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
            p99 = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
            max = sorted.last ?? 0
        }

        var text: String { String(format: "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d reads)", p50 * 1000, p99 * 1000, max * 1000, samples) }
    }

    let name: String
    let store: any CompleteSessionStore
    let count: Int
    let concurrency: Int
    /// Bytes the backend holds for its sessions, measured by the backend's own means.
    let measureBytes: @Sendable () async throws -> (bytes: Double, note: String)?
    /// One trivial round trip to the backend (`SELECT 1`, `PING`/`GET`); nil for in-process stores.
    let ceilingOperation: (@Sendable () async throws -> Void)?
    let ceilingNote: String

    static let t0 = Date(timeIntervalSince1970: 1_767_225_600)

    func run() async throws -> Result {
        var result = Result(store: name, count: count)
        let keys = (0..<count).map { SecureToken.hash("bench-\(name)-\($0)") }
        let sample = (0..<min(count, 1000)).map { Self.record(key: keys[$0], index: $0).binaryEncodedCount }
        result.payloadBytes = Double(sample.reduce(0, +)) / Double(max(sample.count, 1))
        let baseline = try await measureBytes()

        result.create = try await timed("create", keys) { key, index in
            try await store.insert(Self.record(key: key, index: index))
        }
        if let after = try await measureBytes() {
            let delta = after.bytes - (baseline?.bytes ?? 0)
            result.bytesPerSession = delta / Double(count)
            result.bytesNote = after.note
        }
        result.read = try await timed("read", keys) { key, _ in
            guard try await store.load(key: key, now: Self.t0.addingTimeInterval(1)) != nil else {
                throw BenchError("a created session could not be read back")
            }
        }
        result.touch = try await timed("touch", keys) { key, _ in
            try await store.touch(key: key, lastSeen: Self.t0.addingTimeInterval(2), idleExpiresAt: Self.t0.addingTimeInterval(62))
        }
        if let ceilingOperation {
            let sample = Array(keys.prefix(min(count, 100_000)))
            result.ceiling = try await timed("ceiling", sample) { _, _ in try await ceilingOperation() }
            result.ceilingNote = ceilingNote
        }

        // Expire: all N are past their idle expiry at t0+2h; a sweeper removes them in batches while
        // a reader keeps loading a live session, and its latency is compared with an idle baseline.
        let live = SecureToken.hash("bench-\(name)-live")
        var liveRecord = Self.record(key: live, index: -1)
        liveRecord.idleExpiresAt = Self.t0.addingTimeInterval(86_400)
        liveRecord.absoluteExpiresAt = Self.t0.addingTimeInterval(86_400)
        try await store.insert(liveRecord)
        let sweepNow = Self.t0.addingTimeInterval(7200)
        result.latencyIdle = LatencySummary(try await probe(live, now: sweepNow, for: 1.0, until: nil))
        let bar = ProgressBar(label: "\(name) expire", total: count)
        let start = ContinuousClock.now
        let done = DoneFlag()
        async let removed: Int = {
            defer { done.set() }
            return try await sweepWithProgress(now: sweepNow, bar: bar)
        }()
        let latencies = try await probe(live, now: sweepNow, for: nil, until: done)
        let swept = try await removed
        let elapsed = (ContinuousClock.now - start).seconds
        bar.finish()
        guard swept >= count else { throw BenchError("sweep removed \(swept) of \(count) expired sessions") }
        result.expire = Double(swept) / elapsed
        result.latencySweeping = LatencySummary(latencies)
        try await store.delete(key: live)
        return result
    }

    /// The sweeper's loop (`SessionSweeper.sweepOnce`), with a progress bar between batches.
    private func sweepWithProgress(now: Date, bar: ProgressBar) async throws -> Int {
        var total = 0
        while true {
            let removed = try await store.deleteExpired(now: now, limit: 1_000)
            total += removed
            bar.advance(by: removed)
            if removed == 0 { return total }
            await Task.yield()
        }
    }

    /// Loads `key` repeatedly (1 ms apart) for `duration` seconds or until `flag` is set; returns latencies.
    private func probe(_ key: String, now: Date, for duration: Double?, until flag: DoneFlag?) async throws -> [Double] {
        var samples: [Double] = []
        let start = ContinuousClock.now
        while true {
            if let duration, (ContinuousClock.now - start).seconds >= duration { break }
            if let flag, flag.isSet { break }
            let t = ContinuousClock.now
            guard try await store.load(key: key, now: now) != nil else { throw BenchError("the live session vanished during the sweep") }
            samples.append((ContinuousClock.now - t).seconds)
            try await Task.sleep(for: .milliseconds(1))
        }
        return samples
    }

    /// Runs `operation` over all keys with `concurrency` workers; returns operations per second.
    private func timed(_ step: String, _ keys: [String], _ operation: @escaping @Sendable (String, Int) async throws -> Void) async throws -> Double {
        let bar = ProgressBar(label: "\(name) \(step)", total: keys.count)
        let workers = max(1, concurrency)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var index = worker
                    var pending = 0
                    while index < keys.count {
                        try await operation(keys[index], index)
                        index += workers
                        pending += 1
                        if pending == 256 {
                            bar.advance(by: pending)
                            pending = 0
                        }
                    }
                    bar.advance(by: pending)
                }
            }
            try await group.waitForAll()
        }
        let elapsed = (ContinuousClock.now - start).seconds
        bar.finish()
        return Double(keys.count) / max(elapsed, 1e-9)
    }

    static func record(key: String, index: Int) -> SessionRecord {
        SessionRecord(
            key: key,
            handle: String(key.prefix(16)),
            userID: index % 4 == 0 ? "user-\(index % 50_000)" : nil,
            data: ["_csrf": "4kP0rC8s1x0aK2VbWc3Qm9yT7zL5nR1eH6uJ8oD2fG0"],
            createdAt: t0,
            lastSeen: t0,
            idleExpiresAt: t0.addingTimeInterval(60),
            absoluteExpiresAt: t0.addingTimeInterval(3600),
            userAgent: "Mozilla/5.0 (X11; Linux x86_64) Bench/1.0",
            ipAddress: "203.0.113.\(index & 0xFF)"
        )
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A flag set once, read from other tasks.
final class DoneFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

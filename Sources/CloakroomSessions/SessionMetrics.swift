public import CloakroomCore
public import CoreMetrics
public import Foundation

/// Counters a ``SessionManager`` and a ``SessionSweeper`` keep, on a swift-metrics factory the
/// caller chooses (the server passes its Prometheus registry; nothing is bootstrapped globally).
///
/// Names follow Prometheus conventions: `cloakroom_sessions_created_total`,
/// `cloakroom_sessions_loaded_total`, `cloakroom_sessions_not_found_total`,
/// `cloakroom_sessions_expired_total{via="request"|"sweep"}`.
public struct SessionMetrics: Sendable {
    /// Sessions stored for the first time.
    public let created: Counter
    /// Requests whose cookie named a live session.
    public let loaded: Counter
    /// Requests whose cookie named no stored session: expired (stores drop a record at its expiry),
    /// ended, or never issued.
    public let notFound: Counter
    /// Sessions a store still returned but that are past the idle or absolute limit configured now
    /// (a limit lowered since they were written).
    public let expiredOnRequest: Counter
    /// Expired sessions removed by the sweeper.
    public let expiredBySweep: Counter

    /// Creates the counters on `factory`.
    public init(factory: any MetricsFactory) {
        created = Counter(label: "cloakroom_sessions_created_total", factory: factory)
        loaded = Counter(label: "cloakroom_sessions_loaded_total", factory: factory)
        notFound = Counter(label: "cloakroom_sessions_not_found_total", factory: factory)
        expiredOnRequest = Counter(label: "cloakroom_sessions_expired_total", dimensions: [("via", "request")], factory: factory)
        expiredBySweep = Counter(label: "cloakroom_sessions_expired_total", dimensions: [("via", "sweep")], factory: factory)
    }
}

/// A store that counts what it is asked and what fails, by operation, under one store name:
/// `cloakroom_store_operations_total{store,operation}`, `cloakroom_store_errors_total{store,operation}`
/// and `cloakroom_store_operation_duration_seconds{store,operation}` (a histogram).
///
/// Wraps any complete store and forwards every ability; its behaviour is the wrapped store's.
public final class MeteredSessionStore: CompleteSessionStore, KeyTaggedStore {
    /// The store being measured.
    public let base: any CompleteSessionStore
    private let operations: [Operation: Instruments]

    enum Operation: String, CaseIterable {
        case load, insert, update, touch, delete, records
        case deleteAll = "delete_all"
        case list, sweep, ping
    }

    struct Instruments: Sendable {
        let count: Counter
        let errors: Counter
        let duration: CoreMetrics.Timer
    }

    /// Wraps `base`, labelling its figures `store=name` (such as `redis`).
    public init(_ base: any CompleteSessionStore, name: String, factory: any MetricsFactory) {
        self.base = base
        var operations: [Operation: Instruments] = [:]
        for operation in Operation.allCases {
            let dimensions = [("store", name), ("operation", operation.rawValue)]
            operations[operation] = Instruments(
                count: Counter(label: "cloakroom_store_operations_total", dimensions: dimensions, factory: factory),
                errors: Counter(label: "cloakroom_store_errors_total", dimensions: dimensions, factory: factory),
                duration: CoreMetrics.Timer(label: "cloakroom_store_operation_duration_seconds", dimensions: dimensions, factory: factory)
            )
        }
        self.operations = operations
    }

    public var requiresKeyTags: Bool { (base as? any KeyTaggedStore)?.requiresKeyTags ?? false }

    private func measured<T>(_ operation: Operation, _ body: () async throws -> T) async throws -> T {
        guard let instruments = operations[operation] else { return try await body() }
        let start = ContinuousClock.now
        defer {
            instruments.count.increment()
            instruments.duration.recordNanoseconds((ContinuousClock.now - start).wholeNanoseconds)
        }
        do {
            return try await body()
        } catch {
            instruments.errors.increment()
            throw error
        }
    }

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        try await measured(.load) { try await base.load(key: key, now: now) }
    }

    public func insert(_ record: SessionRecord) async throws {
        try await measured(.insert) { try await base.insert(record) }
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        try await measured(.update) { try await base.update(record, expectedVersion: expectedVersion) }
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        try await measured(.touch) { try await base.touch(key: key, lastSeen: lastSeen, idleExpiresAt: idleExpiresAt) }
    }

    public func delete(key: String) async throws {
        try await measured(.delete) { try await base.delete(key: key) }
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        try await measured(.records) { try await base.records(forUser: userID, now: now) }
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        try await measured(.deleteAll) { try await base.deleteAll(forUser: userID, exceptKey: exceptKey) }
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        try await measured(.list) { try await base.list(now: now, afterKey: afterKey, limit: limit) }
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        try await measured(.sweep) { try await base.deleteExpired(now: now, limit: limit) }
    }

    public func ping() async throws {
        try await measured(.ping) { try await base.ping() }
    }
}

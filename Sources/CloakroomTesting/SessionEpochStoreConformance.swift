public import CloakroomSessions
import Foundation

/// The behaviour every `SessionEpochStore` must show, run against a real backend:
/// `try await SessionEpochStoreConformance.run { makeEmptyStore() }`.
public enum SessionEpochStoreConformance {
    /// The names of every check, in order.
    public static let checkNames: [String] = suite.names

    /// Runs every check (or those named in `only`) against fresh stores from `makeStore`.
    public static func run(only: Set<String>? = nil, makeStore: @Sendable () async throws -> any SessionEpochStore) async throws {
        try await suite.run(only: only, makeStore: makeStore)
    }

    static let suite = ConformanceChecks<any SessionEpochStore>(checks: checks)

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        try ConformanceChecks<any SessionEpochStore>.expect(condition, message())
    }

    typealias Check = @Sendable (any SessionEpochStore) async throws -> Void

    static let checks: [(String, Check)] = [
        (
            "a user never seen has epoch 0",
            { store in
                let epoch = try await store.epoch(forUser: "nobody-\(UUID().uuidString)")
                try expect(epoch == 0, "expected 0, got \(epoch)")
            }
        ),
        (
            "advance raises by one and is read back; other users keep theirs",
            { store in
                let user = "u-\(UUID().uuidString)"
                let other = "o-\(UUID().uuidString)"
                let first = try await store.advance(forUser: user)
                let second = try await store.advance(forUser: user)
                try expect(first == 1 && second == 2, "advances returned \(first), \(second); expected 1, 2")
                let read = try await store.epoch(forUser: user)
                try expect(read == 2, "read \(read) after two advances")
                let untouched = try await store.epoch(forUser: other)
                try expect(untouched == 0, "another user's epoch moved to \(untouched)")
            }
        ),
        (
            "concurrent advances each get their own value",
            { store in
                let user = "c-\(UUID().uuidString)"
                let results = try await withThrowingTaskGroup(of: UInt64.self) { group in
                    for _ in 0..<16 { group.addTask { try await store.advance(forUser: user) } }
                    var all: [UInt64] = []
                    for try await value in group { all.append(value) }
                    return all.sorted()
                }
                try expect(results == Array(1...16), "16 concurrent advances returned \(results)")
                let read = try await store.epoch(forUser: user)
                try expect(read == 16, "read \(read) after 16 advances")
            }
        ),
        (
            "user IDs are exact (case, Unicode, length)",
            { store in
                let base = "Ünïcode-\(UUID().uuidString)"
                _ = try await store.advance(forUser: base)
                let lower = try await store.epoch(forUser: base.lowercased())
                try expect(lower == 0, "a differently-cased ID shares the epoch (\(lower))")
                let long = String(repeating: "x", count: 300) + base
                let longEpoch = try await store.epoch(forUser: long)
                try expect(longEpoch == 0, "a longer ID shares the epoch")
                try expect(try await store.epoch(forUser: base) == 1, "the ID's own epoch was lost")
            }
        ),
    ]
}

/// A rule a store broke in a conformance suite (``SessionStoreConformance``,
/// ``TokenStoreConformance``): the check's name and what was seen.
public struct ConformanceFailure: Error, CustomStringConvertible {
    /// The check that failed and what was seen.
    public let description: String

    /// Creates a failure.
    public init(description: String) {
        self.description = description
    }
}

/// The runner both conformance suites share: named checks, each given a fresh store.
struct ConformanceChecks<Store: Sendable>: Sendable {
    typealias Check = @Sendable (Store) async throws -> Void

    let checks: [(String, Check)]

    /// The names of every check, in order.
    var names: [String] { checks.map(\.0) }

    /// Runs every check (or those named in `only`) against fresh stores from `makeStore`; a
    /// failure is rethrown with the check's name in front.
    func run(only: Set<String>?, makeStore: @Sendable () async throws -> Store) async throws {
        for (name, check) in checks where only?.contains(name) ?? true {
            let store = try await makeStore()
            do {
                try await check(store)
            } catch let failure as ConformanceFailure {
                throw ConformanceFailure(description: "\(name): \(failure.description)")
            }
        }
    }

    /// Throws a ``ConformanceFailure`` with `message` unless `condition` holds.
    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(description: message()) }
    }
}

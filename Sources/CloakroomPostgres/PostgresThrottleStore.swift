import CloakroomCore
public import CloakroomIdentity
public import Foundation
import PostgresNIO

/// Sign-in failure counters in PostgreSQL (`cloakroom_throttle`), one atomic upsert per failure,
/// so every node sees and bumps the same counter. Failures are `PostgresStoreError`s.
public struct PostgresThrottleStore: ThrottleStore {
    let database: CloakroomPostgresDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomPostgresDatabase) {
        self.database = database
    }

    public func recordFailure(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState {
        let rows = try await database.query(
            """
            INSERT INTO cloakroom_throttle AS t (key, failures, last_failure) VALUES (\(key), 1, \(now))
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN t.last_failure + \(window)::double precision * interval '1 second' > excluded.last_failure
                    THEN t.failures + 1 ELSE 1 END,
                last_failure = excluded.last_failure
            RETURNING failures, last_failure
            """,
            "throttle update"
        )
        guard let state = try rows.first.map(Self.state(from:)) else {
            throw PostgresStoreError("throttle upsert returned no row")
        }
        return state
    }

    public func state(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState? {
        try await database.query(
            """
            SELECT failures, last_failure FROM cloakroom_throttle
            WHERE key = \(key) AND last_failure + \(window)::double precision * interval '1 second' > \(now)
            """,
            "throttle lookup"
        ).first.map(Self.state(from:))
    }

    public func reset(key: String) async throws {
        try await database.query("DELETE FROM cloakroom_throttle WHERE key = \(key)", "throttle reset")
    }

    /// Removes counters idle since before `cutoff`; returns how many.
    @discardableResult
    public func purge(before cutoff: Date) async throws -> Int {
        let rows = try await database.query(
            """
            WITH deleted AS (DELETE FROM cloakroom_throttle WHERE last_failure < \(cutoff) RETURNING 1)
            SELECT count(*) FROM deleted
            """,
            "throttle purge"
        )
        guard let row = rows.first else { return 0 }
        do {
            return try row.decode(Int.self)
        } catch {
            throw PostgresStoreError("malformed count row from PostgreSQL")
        }
    }

    private static func state(from row: PostgresRow) throws -> ThrottleState {
        do {
            let (failures, last) = try row.decode((Int32, Date).self)
            return ThrottleState(failures: Int(failures), lastFailure: last)
        } catch {
            throw PostgresStoreError("malformed throttle row")
        }
    }
}

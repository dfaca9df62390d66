import CloakroomCore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Figures for the benchmarks (`cloakroom bench stores`); `package` access, not shipped API.
extension CloakroomPostgresDatabase {
    /// One `SELECT 1` round trip through the pool: the ceiling any store on it can reach.
    package func selectOne() async throws {
        try await execute(SelectOne(), "select 1")
    }

    /// Bytes the sessions table uses on disk, indexes and TOAST included (`pg_total_relation_size`).
    package func sessionTableBytes() async throws -> Int {
        let rows = try await query("SELECT pg_total_relation_size('cloakroom_sessions')::bigint", "table size")
        guard let row = rows.first else { return 0 }
        return Int(try row.decode(Int64.self))
    }
}

extension CloakroomPostgresDatabase {
    /// The statements prepared on the pooled connection a call gets (`pg_prepared_statements` is
    /// per connection): with a one-connection pool, every kept statement that has run on it.
    package func preparedStatementNames() async throws -> [String] {
        try await query("SELECT name FROM pg_prepared_statements ORDER BY name", "prepared statements").map {
            try $0.decode(String.self)
        }
    }
}

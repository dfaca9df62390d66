import CloakroomCore
import Foundation
import PostgresNIO

/// A statement every pooled connection prepares once (PostgreSQL parses and plans it then) and
/// afterwards only binds and runs: the statements of every signed-in request.
///
/// An unnamed statement is parsed and planned again on each call. On a signed-in `GET /api/me`
/// that cost PostgreSQL 167 µs of CPU per session read, the prepared read 61 µs (measured with
/// `wrk` on this machine; see docs/benchmarks.md). Each statement names itself (`name`, at most
/// 63 bytes: PostgreSQL truncates longer names) and carries its bound values in order; the
/// parameter types are the values' own (a `Date` binds as `timestamptz`, a `String` as `text`).
protocol KeptStatement: PostgresPreparedStatement where Row == PostgresRow {
    var bindings: PostgresBindings { get }
}

extension KeptStatement {
    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

/// `SELECT 1`, the ping of every store on the database.
struct SelectOne: KeptStatement {
    static let name = "cloakroom_select_one"
    static let sql = "SELECT 1"
    var bindings: PostgresBindings { PostgresBindings() }
}

extension CloakroomPostgresDatabase {
    /// Runs a kept statement on a pooled connection and collects its rows, within the timeout
    /// (unnamed, as any other statement, when `Configuration.preparesStatements` is off).
    /// Failures are `PostgresStoreError`s.
    @discardableResult
    func execute<Statement: KeptStatement>(_ statement: Statement, _ what: String) async throws -> [PostgresRow] {
        guard configuration.preparesStatements else {
            return try await query(PostgresQuery(unsafeSQL: Statement.sql, binds: statement.bindings), what)
        }
        return try await withConnection(what) { connection in
            var rows: [PostgresRow] = []
            for try await row in try await connection.execute(statement, logger: self.logger) {
                rows.append(row)
            }
            return rows
        }
    }

    /// `execute` for a store: a database failure is `StoreError.unavailable`.
    @discardableResult
    func run<Statement: KeptStatement>(_ what: String, _ statement: Statement) async throws -> [PostgresRow] {
        do {
            return try await execute(statement, what)
        } catch let error as PostgresStoreError {
            throw StoreError.unavailable(error.message)
        }
    }
}

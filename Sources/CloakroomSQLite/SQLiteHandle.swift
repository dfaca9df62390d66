import NIOCore
import SQLiteNIO
// sqlite-nio's vendored SQLite (its symbols prefixed `sqlite_nio_`): SQLiteNIO itself prepares
// every statement afresh and runs each on a thread pool, which cost a request on the SQLite store
// half its speed (issue 11). This binding keeps prepared statements per connection and lets reads
// run on the caller's thread.
import VaporCSQLite

/// One open `sqlite3` connection and the statements prepared on it.
///
/// Not thread-safe by itself: its owner runs one statement at a time on it (the writer's one-thread
/// pool, or a reader checked out of ``SQLiteReaderPool``). Every statement runs to completion and
/// is reset before `execute` returns, so no read transaction outlives the call: the next statement
/// sees every write committed before it starts.
final class SQLiteHandle: @unchecked Sendable {
    private var raw: OpaquePointer?
    /// Prepared statements by SQL text.
    private var statements: [String: PreparedStatement] = [:]
    /// Statements kept at most; past it the cache starts over (SQL built per call, such as an
    /// `IN (?, ?)` list, would otherwise grow it without bound).
    static let statementLimit = 64

    /// How long a statement waits for another connection's lock before it fails.
    static let busyTimeoutMilliseconds: Int32 = 10_000

    final class PreparedStatement {
        let raw: OpaquePointer
        /// Column names, read again when SQLite prepares the statement anew after a schema change
        /// (another process's migration) gives it another column count.
        private(set) var columns: [String]

        init(raw: OpaquePointer) {
            self.raw = raw
            self.columns = Self.names(raw)
        }

        func refreshColumns() {
            if sqlite_nio_sqlite3_column_count(raw) != columns.count { columns = Self.names(raw) }
        }

        private static func names(_ raw: OpaquePointer) -> [String] {
            (0..<sqlite_nio_sqlite3_column_count(raw)).map { index in
                sqlite_nio_sqlite3_column_name(raw, index).map { String(cString: $0) } ?? ""
            }
        }

        deinit { sqlite_nio_sqlite3_finalize(raw) }
    }

    /// Opens `path` (`:memory:` for a private database; a `file:` URI is accepted).
    init(path: String) throws {
        _ = sqlite_nio_sqlite3_initialize()
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE
        let status = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "error \(status)"
            if let handle { sqlite_nio_sqlite3_close_v2(handle) }
            throw SQLiteStoreError("cannot open SQLite database at \(path): \(message)")
        }
        raw = handle
        sqlite_nio_sqlite3_busy_timeout(raw, Self.busyTimeoutMilliseconds)
    }

    deinit { close() }

    /// Finalizes every statement and closes the connection; a later `execute` fails.
    func close() {
        statements.removeAll()
        if let raw { sqlite_nio_sqlite3_close_v2(raw) }
        raw = nil
    }

    /// Runs one statement with `binds` for its `?` parameters and returns every row it produced.
    @discardableResult
    func execute(_ sql: String, _ binds: [SQLiteData] = []) throws -> [CloakroomSQLiteDatabase.Row] {
        let statement = try prepared(sql)
        let raw = statement.raw
        defer {
            sqlite_nio_sqlite3_reset(raw)
            sqlite_nio_sqlite3_clear_bindings(raw)
        }
        for (offset, value) in binds.enumerated() {
            try check(bind(value, at: Int32(offset + 1), in: raw))
        }
        var rows: [CloakroomSQLiteDatabase.Row] = []
        while true {
            let status = sqlite_nio_sqlite3_step(raw)
            if status == SQLITE_DONE { return rows }
            guard status == SQLITE_ROW else { throw failure(status) }
            if rows.isEmpty { statement.refreshColumns() }
            let count = Int32(statement.columns.count)
            var values: [SQLiteData] = []
            values.reserveCapacity(Int(count))
            for column in 0..<count { values.append(value(at: column, in: raw)) }
            rows.append(CloakroomSQLiteDatabase.Row(columns: statement.columns, values: values))
        }
    }

    private func prepared(_ sql: String) throws -> PreparedStatement {
        if let statement = statements[sql] { return statement }
        guard let raw else { throw SQLiteStoreError("SQLite query failed: the database is closed") }
        var handle: OpaquePointer?
        let status = sqlite_nio_sqlite3_prepare_v3(raw, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, nil)
        guard status == SQLITE_OK, let handle else { throw failure(status) }
        let statement = PreparedStatement(raw: handle)
        if statements.count >= Self.statementLimit { statements.removeAll() }
        statements[sql] = statement
        return statement
    }

    private func bind(_ value: SQLiteData, at index: Int32, in statement: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let integer): sqlite_nio_sqlite3_bind_int64(statement, index, Int64(integer))
        case .float(let double): sqlite_nio_sqlite3_bind_double(statement, index, double)
        case .null: sqlite_nio_sqlite3_bind_null(statement, index)
        case .text(let text):
            text.utf8.withContiguousStorageIfAvailable { bytes in
                sqlite_nio_sqlite3_bind_text64(statement, index, bytes.baseAddress, UInt64(bytes.count), Self.transient, UInt8(SQLITE_UTF8))
            } ?? sqlite_nio_sqlite3_bind_text64(statement, index, text, UInt64(text.utf8.count), Self.transient, UInt8(SQLITE_UTF8))
        case .blob(let buffer):
            buffer.withUnsafeReadableBytes { bytes in
                sqlite_nio_sqlite3_bind_blob64(statement, index, bytes.baseAddress, UInt64(bytes.count), Self.transient)
            }
        }
    }

    private func value(at column: Int32, in statement: OpaquePointer) -> SQLiteData {
        switch sqlite_nio_sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
        case SQLITE_FLOAT:
            return .float(sqlite_nio_sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            guard let text = sqlite_nio_sqlite3_column_text(statement, column) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            guard let bytes = sqlite_nio_sqlite3_column_blob(statement, column) else { return .blob(ByteBuffer()) }
            return .blob(ByteBuffer(bytes: UnsafeRawBufferPointer(start: bytes, count: count)))
        default:
            return .null
        }
    }

    private func check(_ status: Int32) throws {
        guard status == SQLITE_OK else { throw failure(status) }
    }

    /// The error for `status`, with SQLite's message (which names no bound value).
    private func failure(_ status: Int32) -> SQLiteStoreError {
        let message = raw.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "error \(status)"
        if status & 0xFF == SQLITE_CONSTRAINT { return SQLiteStoreError(constraint: message) }
        return SQLiteStoreError("SQLite query failed: \(message)")
    }

    /// SQLite copies a bound value before the bind call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

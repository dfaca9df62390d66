import CloakroomCore
import Foundation
import Logging
import NIOCore
import SQLiteNIO
import CloakroomSessions

/// One SQLite file shared by the session, account, throttle and token stores, migrated on open.
///
/// WAL mode, `synchronous=NORMAL`, a busy handler that waits, so two server processes can share the
/// file. Every write is one statement (compare-and-swap included), so no transaction is ever held
/// open across an `await`.
public final class CloakroomSQLiteDatabase: Sendable {
    let connection: SQLiteConnection
    /// The file path, or `:memory:`.
    public let path: String

    private init(connection: SQLiteConnection, path: String) {
        self.connection = connection
        self.path = path
    }

    /// Opens (creating if needed) and migrates the database at `path`; `":memory:"` for a private one.
    public static func open(path: String, logger: Logger = Logger(label: "cloakroom.sqlite")) async throws -> CloakroomSQLiteDatabase {
        let storage: SQLiteConnection.Storage = path == ":memory:" ? .memory : .file(path: path)
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: storage, logger: logger)
        } catch {
            throw SQLiteStoreError("cannot open SQLite database at \(path): \(error)")
        }
        let database = CloakroomSQLiteDatabase(connection: connection, path: path)
        do {
            try await database.migrate()
        } catch {
            try? await connection.close()
            throw error
        }
        return database
    }

    /// Closes the connection.
    public func close() async throws {
        try await connection.close()
    }

    /// The schema version the file is at.
    public func schemaVersion() async throws -> Int {
        let rows = try await query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return Int(rows.first?.column("v")?.integer ?? 0)
    }

    @discardableResult
    func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        do {
            return try await connection.query(sql, binds)
        } catch let error as SQLiteError where error.reason == .constraint || error.reason == .constraintPrimaryKeyFailed || error.reason == .constraintUniqueFailed {
            throw SQLiteStoreError(constraint: "\(error)")
        } catch let error as SQLiteStoreError {
            throw error
        } catch {
            throw SQLiteStoreError("SQLite query failed: \(error)")
        }
    }

    /// Migrations, in order; each runs once, recorded in `schema_migrations`.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE sessions (
                key TEXT PRIMARY KEY,
                handle TEXT NOT NULL,
                user_id TEXT,
                data TEXT NOT NULL,
                created_at REAL NOT NULL,
                last_seen REAL NOT NULL,
                authenticated_at REAL,
                idle_expires_at REAL NOT NULL,
                absolute_expires_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                user_agent TEXT,
                ip_address TEXT,
                version INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
            "CREATE INDEX sessions_user_id ON sessions (user_id) WHERE user_id IS NOT NULL",
            """
            CREATE TABLE accounts (
                id TEXT PRIMARY KEY,
                username TEXT NOT NULL,
                username_key TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                created_at REAL NOT NULL,
                disabled INTEGER NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE throttle (
                key TEXT PRIMARY KEY,
                failures INTEGER NOT NULL,
                last_failure REAL NOT NULL
            ) WITHOUT ROWID
            """,
        ],
        // 2: token state (SQLiteTokenStore); times are integer milliseconds since 1970.
        [
            """
            CREATE TABLE refresh_tokens (
                key TEXT PRIMARY KEY,
                family_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                scope TEXT NOT NULL,
                issued_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                family_expires_at INTEGER NOT NULL,
                used_at INTEGER,
                successor_key TEXT,
                successor_expires_at INTEGER
            ) WITHOUT ROWID
            """,
            "CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id)",
            "CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id)",
            "CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at)",
            // Rotation is one UPDATE (mark used, name the successor); this trigger stores the
            // successor inside that same statement, so the exchange is atomic across processes.
            """
            CREATE TRIGGER refresh_tokens_rotate AFTER UPDATE OF used_at ON refresh_tokens
            WHEN OLD.used_at IS NULL AND NEW.used_at IS NOT NULL AND NEW.successor_key IS NOT NULL
            BEGIN
                INSERT INTO refresh_tokens (key, family_id, user_id, client_id, scope, issued_at, expires_at, family_expires_at)
                VALUES (NEW.successor_key, NEW.family_id, NEW.user_id, NEW.client_id, NEW.scope, NEW.used_at,
                        NEW.successor_expires_at, NEW.family_expires_at);
            END
            """,
            """
            CREATE TABLE token_epochs (
                user_id TEXT PRIMARY KEY,
                epoch INTEGER NOT NULL,
                keep_until INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX token_epochs_keep_until ON token_epochs (keep_until)",
            """
            CREATE TABLE denied_token_ids (
                jti TEXT PRIMARY KEY,
                until INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
            "CREATE INDEX denied_token_ids_until ON denied_token_ids (until)",
        ],
    ]

    /// The schema version `open` migrates to.
    public static var latestSchemaVersion: Int { migrations.count }

    private func migrate() async throws {
        try await query("PRAGMA journal_mode = WAL")
        try await query("PRAGMA synchronous = NORMAL")
        try await query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        let current = try await schemaVersion()
        for (offset, statements) in Self.migrations.enumerated() where offset + 1 > current {
            let version = offset + 1
            try await query("BEGIN IMMEDIATE")
            do {
                // Another process may have migrated between our read and our lock.
                if try await schemaVersion() < version {
                    for statement in statements { try await query(statement) }
                    try await query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                    [.integer(version), .float(Date().timeIntervalSince1970)])
                }
                try await query("COMMIT")
            } catch {
                _ = try? await query("ROLLBACK")
                throw error
            }
        }
    }
}

/// A SQLite failure, with no session data in it.
public struct SQLiteStoreError: BackendUnavailableError, Sendable, CustomStringConvertible {
    /// What failed.
    public let message: String
    /// A uniqueness or key constraint refused the write.
    public let isConstraint: Bool

    init(_ message: String) {
        self.message = message
        self.isConstraint = false
    }

    init(constraint message: String) {
        self.message = message
        self.isConstraint = true
    }

    public var description: String { message }
}

extension Date {
    var sqlite: SQLiteData { .float(timeIntervalSince1970) }
}

extension SQLiteData {
    var date: Date? { double.map { Date(timeIntervalSince1970: $0) } }
}

extension Optional where Wrapped == String {
    var sqlite: SQLiteData { map { .text($0) } ?? .null }
}

extension CloakroomSQLiteDatabase {
    /// Bytes the database file uses (`page_count × page_size`), for benchmarks and operators.
    public func sizeInBytes() async throws -> Int {
        let pages = try await query("PRAGMA page_count").first?.column("page_count")?.integer ?? 0
        let size = try await query("PRAGMA page_size").first?.column("page_size")?.integer ?? 0
        return Int(pages * size)
    }

    /// One `SELECT 1` round trip: the ceiling any store on this connection can reach.
    public func selectOne() async throws {
        try await query("SELECT 1")
    }
}

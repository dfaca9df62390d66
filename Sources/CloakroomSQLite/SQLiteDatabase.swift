public import CloakroomCore
import CloakroomSessions
import Foundation
public import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One SQLite file shared by the session, account, throttle and token stores, migrated on open.
///
/// WAL mode, `synchronous=NORMAL`, a busy timeout that waits (10 s), so two server processes can
/// share the file. One writer connection runs every write (each one statement, compare-and-swap
/// included, so no transaction is ever held open across an `await`) and the migrations, on its own
/// one-thread pool. Pure reads go to read-only connections (`PRAGMA query_only`), which WAL lets
/// run beside the writer, so a request's read never queues behind a sweep's `DELETE`; a read runs
/// on the caller's own thread with a connection checked out for it (a point read is a few
/// microseconds, far less than a hop to another thread and back). Each read is its own autocommit
/// statement, so it sees every write that returned before it started (read-your-writes across
/// connections). Every connection keeps its prepared statements. `:memory:` has no readers.
/// In WAL mode a read waits for a lock only in rare moments (another process recovering the log
/// after a crash); it then waits, on its own thread, up to the busy timeout (10 s).
public final class CloakroomSQLiteDatabase: Sendable {
    /// The only connection that writes.
    let writer: SQLiteHandle
    /// Read-only connections for pure reads; nil for `:memory:` (reads then use the writer).
    let readers: SQLiteReaderPool?
    /// The writer's one thread.
    private let writerPool: NIOThreadPool
    /// The file path, or `:memory:`.
    public let path: String

    private init(writer: SQLiteHandle, readers: SQLiteReaderPool?, writerPool: NIOThreadPool, path: String) {
        self.writer = writer
        self.readers = readers
        self.writerPool = writerPool
        self.path = path
    }

    /// Opens (creating if needed) and migrates the database at `path`; `":memory:"` for a private one.
    ///
    /// `readers` read-only connections (default 2) are opened at once; more open when more reads
    /// run at the same moment (one per thread reading), and idle ones are kept.
    public static func open(
        path: String,
        readers readerCount: Int = 2,
        logger: Logger = Logger(label: "cloakroom.sqlite")
    ) async throws -> CloakroomSQLiteDatabase {
        // A private database (in memory, or SQLite's temporary "") is another one on each connection.
        let isPrivate = path == ":memory:" || path.isEmpty || path.contains("mode=memory")
        let writerPool = NIOThreadPool(numberOfThreads: 1)
        writerPool.start()
        if !isPrivate { createOwnerOnly(path, logger: logger) }
        do {
            let writer = try await writerPool.runIfActive { try SQLiteHandle(path: path) }
            try await writerPool.runIfActive { try migrate(writer) }
            // Readers open after the migration, so the file is already in WAL mode (persistent).
            let readers = isPrivate ? nil : try SQLiteReaderPool(path: path, opening: max(readerCount, 1))
            return CloakroomSQLiteDatabase(writer: writer, readers: readers, writerPool: writerPool, path: path)
        } catch {
            try? await writerPool.shutdownGracefully()
            throw error
        }
    }

    /// Creates the database file with mode 0600 if it does not exist yet: it holds password hashes,
    /// and SQLite gives the `-wal` and `-shm` files it creates beside it the database file's mode.
    /// An existing file keeps the mode the operator chose, with a warning if anyone may read it.
    private static func createOwnerOnly(_ path: String, logger: Logger) {
        #if canImport(Glibc)
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        #else
        let descriptor = Darwin.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        #endif
        if descriptor >= 0 {
            #if canImport(Glibc)
            _ = Glibc.close(descriptor)
            #else
            _ = Darwin.close(descriptor)
            #endif
            return
        }
        // Any other failure (no such folder, no permission) is SQLite's to report when it opens.
        guard errno == EEXIST else { return }
        // FileManager rather than stat(2): `struct stat` resolves to different modules in debug and
        // release builds, and the release build refuses it.
        if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o004 != 0 {
            logger.warning(
                "the SQLite database is readable by every user of this machine (it holds password hashes): chmod 600 it",
                metadata: ["path": "\(path)", "mode": "\(String(mode & 0o777, radix: 8))"]
            )
        }
    }

    /// Closes every connection and stops the writer's thread. Reads still running finish first on
    /// their own connection, which closes when they return it.
    public func close() async throws {
        readers?.close()
        let writer = self.writer
        try? await writerPool.runIfActive { writer.close() }
        try await writerPool.shutdownGracefully()
    }

    /// The schema version the file is at.
    public func schemaVersion() async throws -> Int {
        let rows = try await read("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return Int(rows.first?.column("v")?.integer ?? 0)
    }

    /// Runs a statement that writes (or must see this process's open writes) on the writer.
    @discardableResult
    func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [Row] {
        let writer = self.writer
        do {
            return try await writerPool.runIfActive { try writer.execute(sql, binds) }
        } catch let error as SQLiteStoreError {
            throw error
        } catch {
            // The pool has stopped: the database was closed.
            throw SQLiteStoreError("SQLite query failed: the database is closed")
        }
    }

    /// Runs a pure read on a reader connection, on this thread: it never waits for the writer, and
    /// sees every write committed before it starts.
    func read(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [Row] {
        guard let readers else { return try await query(sql, binds) }
        return try readers.withReader { try $0.execute(sql, binds) }
    }

    /// One result row: values by column name.
    struct Row: Sendable {
        let columns: [String]
        let values: [SQLiteData]

        /// The value of the column named `name`, or nil when the statement has no such column.
        func column(_ name: String) -> SQLiteData? {
            columns.firstIndex(of: name).map { values[$0] }
        }
    }

    /// Rows one purge statement deletes at most: each chunk is its own short write, so a request's
    /// write queued on the writer runs between chunks instead of waiting out a whole sweep batch.
    static let purgeChunk = 250

    /// Runs `sql`, a `DELETE … LIMIT ? RETURNING …` whose last parameter is the row limit, chunk by
    /// chunk until `limit` rows are gone or a chunk comes back short; returns how many were deleted.
    func deleteInChunks(_ sql: String, _ binds: [SQLiteData], limit: Int) async throws -> Int {
        var removed = 0
        while removed < limit {
            let chunk = min(Self.purgeChunk, limit - removed)
            let deleted = try await query(sql, binds + [.integer(chunk)]).count
            removed += deleted
            if deleted < chunk { break }
        }
        return removed
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
        // 3: registered OAuth clients (SQLiteOAuthClientStore), each a JSON document.
        [
            """
            CREATE TABLE oauth_clients (
                id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL,
                document TEXT NOT NULL
            ) WITHOUT ROWID
            """
        ],
        // 4: what each user allowed each OAuth client (SQLiteConsentStore).
        [
            """
            CREATE TABLE oauth_consents (
                user_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                scope TEXT NOT NULL,
                granted_at INTEGER NOT NULL,
                PRIMARY KEY (user_id, client_id)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX oauth_consents_client ON oauth_consents (client_id)",
        ],
        // 5: local accounts linked to accounts at other OpenID providers (SQLiteFederatedIdentityStore).
        [
            """
            CREATE TABLE federated_identities (
                provider TEXT NOT NULL,
                subject TEXT NOT NULL,
                user_id TEXT NOT NULL,
                linked_at INTEGER NOT NULL,
                PRIMARY KEY (provider, subject)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX federated_identities_user ON federated_identities (user_id)",
        ],
        // 6: per-user epochs that revoke sessions kept in cookies (SQLiteSessionEpochStore).
        [
            """
            CREATE TABLE session_epochs (
                user_id TEXT PRIMARY KEY,
                epoch INTEGER NOT NULL
            ) WITHOUT ROWID
            """
        ],
    ]

    /// The schema version `open` migrates to.
    public static var latestSchemaVersion: Int { migrations.count }

    private static func migrate(_ writer: SQLiteHandle) throws {
        try writer.execute("PRAGMA journal_mode = WAL")
        try writer.execute("PRAGMA synchronous = NORMAL")
        try writer.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        func current() throws -> Int {
            Int(try writer.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").first?.column("v")?.integer ?? 0)
        }
        let start = try current()
        for (offset, statements) in migrations.enumerated() where offset + 1 > start {
            let version = offset + 1
            try writer.execute("BEGIN IMMEDIATE")
            do {
                // Another process may have migrated between our read and our lock.
                if try current() < version {
                    for statement in statements { try writer.execute(statement) }
                    try writer.execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                        [.integer(version), .float(Date().timeIntervalSince1970)]
                    )
                }
                try writer.execute("COMMIT")
            } catch {
                _ = try? writer.execute("ROLLBACK")
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
        let pages = try await read("PRAGMA page_count").first?.column("page_count")?.integer ?? 0
        let size = try await read("PRAGMA page_size").first?.column("page_size")?.integer ?? 0
        return Int(pages * size)
    }

    /// One `SELECT 1` round trip on a reader: the ceiling any read on this database can reach.
    package func selectOne() async throws {
        _ = try await read("SELECT 1")
    }
}

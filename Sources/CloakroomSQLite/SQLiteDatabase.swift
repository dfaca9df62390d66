public import CloakroomCore
import CloakroomSessions
import Foundation
public import Logging
import NIOCore
import SQLiteNIO
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One SQLite file shared by the session, account, throttle and token stores, migrated on open.
///
/// WAL mode, `synchronous=NORMAL`, a busy handler that waits, so two server processes can share the
/// file. One writer connection runs every write (each one statement, compare-and-swap included, so
/// no transaction is ever held open across an `await`) and the migrations; pure reads go to a few
/// read-only connections (`PRAGMA query_only`), which WAL lets run beside the writer, so a request's
/// read never queues behind a sweep's `DELETE`. Each read is its own autocommit statement, so it
/// sees every write that returned before it started (read-your-writes across connections).
/// The writer and each reader run on their own one-thread pool, so queued writes never hold the
/// threads reads need and no connection ever runs two statements at once (two overlapping statements
/// on one connection would share one read snapshot). `:memory:` has no readers.
public final class CloakroomSQLiteDatabase: Sendable {
    /// The only connection that writes.
    let writer: SQLiteConnection
    /// Read-only connections for pure reads; empty for `:memory:` (reads then use the writer).
    let readers: [SQLiteConnection]
    /// Reads in flight on each reader, to pick the least busy one.
    private let readerLoad: Mutex<[Int]>
    private let pools: [NIOThreadPool]
    /// The file path, or `:memory:`.
    public let path: String

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], pools: [NIOThreadPool], path: String) {
        self.writer = writer
        self.readers = readers
        self.readerLoad = Mutex(Array(repeating: 0, count: readers.count))
        self.pools = pools
        self.path = path
    }

    /// Opens (creating if needed) and migrates the database at `path`; `":memory:"` for a private one.
    ///
    /// `readers` read-only connections (default 2) serve pure reads beside the one writer.
    public static func open(
        path: String,
        readers readerCount: Int = 2,
        logger: Logger = Logger(label: "cloakroom.sqlite")
    ) async throws -> CloakroomSQLiteDatabase {
        let storage: SQLiteConnection.Storage = path == ":memory:" ? .memory : .file(path: path)
        // A private database (in memory, or SQLite's temporary "") is another one on each connection.
        let isPrivate = path == ":memory:" || path.isEmpty || path.contains("mode=memory")
        let readerCount = isPrivate ? 0 : max(readerCount, 0)
        let writerPool = NIOThreadPool(numberOfThreads: 1)
        writerPool.start()
        // One thread per reader: a connection must run one statement at a time. Two overlapping
        // statements on one connection share a read transaction, so the second would read the
        // first one's (older) snapshot and miss a write committed in between.
        let readerPools = (0..<readerCount).map { _ in NIOThreadPool(numberOfThreads: 1) }
        for pool in readerPools { pool.start() }
        let pools = [writerPool] + readerPools
        if !isPrivate { createOwnerOnly(path, logger: logger) }
        var opened: [SQLiteConnection] = []
        do {
            let writer = try await connect(storage, path: path, pool: writerPool, logger: logger)
            opened.append(writer)
            try await migrate(writer)
            // Readers open after the migration, so the file is already in WAL mode (persistent).
            var readers: [SQLiteConnection] = []
            for readerPool in readerPools {
                let reader = try await connect(storage, path: path, pool: readerPool, logger: logger)
                opened.append(reader)
                try await run(reader, "PRAGMA query_only = ON")
                readers.append(reader)
            }
            return CloakroomSQLiteDatabase(writer: writer, readers: readers, pools: pools, path: path)
        } catch {
            for connection in opened { try? await connection.close() }
            for pool in pools { try? await pool.shutdownGracefully() }
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

    private static func connect(
        _ storage: SQLiteConnection.Storage,
        path: String,
        pool: NIOThreadPool,
        logger: Logger
    ) async throws -> SQLiteConnection {
        do {
            return try await SQLiteConnection.open(
                storage: storage,
                threadPool: pool,
                logger: logger,
                on: MultiThreadedEventLoopGroup.singleton.any()
            )
        } catch {
            throw SQLiteStoreError("cannot open SQLite database at \(path): \(error)")
        }
    }

    /// Closes every connection and stops their threads.
    public func close() async throws {
        var failure: (any Error)?
        for connection in readers + [writer] {
            do { try await connection.close() } catch { failure = failure ?? error }
        }
        for pool in pools {
            do { try await pool.shutdownGracefully() } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    /// The schema version the file is at.
    public func schemaVersion() async throws -> Int {
        try await Self.schemaVersion(readers.isEmpty ? writer : readers[0])
    }

    private static func schemaVersion(_ connection: SQLiteConnection) async throws -> Int {
        let rows = try await run(connection, "SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return Int(rows.first?.column("v")?.integer ?? 0)
    }

    /// Runs a statement that writes (or must see this process's open writes) on the writer.
    @discardableResult
    func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        try await Self.run(writer, sql, binds)
    }

    /// Runs a pure read on the least busy reader: it never waits for the writer, and sees every
    /// write committed before it starts.
    func read(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        guard !readers.isEmpty else { return try await query(sql, binds) }
        let index = readerLoad.withLock { load in
            var best = 0
            for candidate in load.indices where load[candidate] < load[best] { best = candidate }
            load[best] += 1
            return best
        }
        defer { readerLoad.withLock { $0[index] -= 1 } }
        return try await Self.run(readers[index], sql, binds)
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

    @discardableResult
    private static func run(_ connection: SQLiteConnection, _ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        do {
            return try await connection.query(sql, binds)
        } catch let error as SQLiteError
            where error.reason == .constraint || error.reason == .constraintPrimaryKeyFailed || error.reason == .constraintUniqueFailed
        {
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

    private static func migrate(_ writer: SQLiteConnection) async throws {
        try await run(writer, "PRAGMA journal_mode = WAL")
        try await run(writer, "PRAGMA synchronous = NORMAL")
        try await run(writer, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        let current = try await schemaVersion(writer)
        for (offset, statements) in migrations.enumerated() where offset + 1 > current {
            let version = offset + 1
            try await run(writer, "BEGIN IMMEDIATE")
            do {
                // Another process may have migrated between our read and our lock.
                if try await schemaVersion(writer) < version {
                    for statement in statements { try await run(writer, statement) }
                    try await run(
                        writer,
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                        [.integer(version), .float(Date().timeIntervalSince1970)]
                    )
                }
                try await run(writer, "COMMIT")
            } catch {
                _ = try? await run(writer, "ROLLBACK")
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

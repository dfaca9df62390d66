import CloakroomCore
import Foundation
public import Logging
import NIOCore
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// One PostgreSQL database shared by the session, account and throttle stores, migrated on open.
///
/// Lifecycle: `open(url:)` connects once on a dedicated connection, creates and migrates the schema
/// (see `migrations`), and returns a database whose pooled `PostgresClient` is not running yet.
/// The database is a ServiceLifecycle `Service`: add it to the server's `ServiceGroup` (or call
/// `run()` in a task you own, or use `withDatabase(configuration:_:)`), which runs the pool until graceful
/// shutdown, cancellation or `close()`. Store calls made before `run()` starts wait for it, up to
/// the timeout.
///
/// Every store call is bounded by `Configuration.timeout` (default 2 s), waiting for a connection
/// included: a stopped server yields an error after about that long, never a hang. When calls keep
/// failing while the server answers a fresh connection again, `run()` replaces the pool rather than
/// waiting out its reconnect back-off (which grows to a minute after a long outage), so service
/// resumes within about a second of the server coming back.
public final class CloakroomPostgresDatabase: Sendable, Service {
    /// Where the database is and how long calls may take.
    public let configuration: Configuration
    let logger: Logger
    let state: Mutex<State>

    enum Phase { case idle, running, stopped }

    struct State {
        var phase: Phase = .idle
        var client: PostgresClient
        var failingSince: ContinuousClock.Instant?
        var stop: AsyncStream<Void>.Continuation?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(State(client: try Self.makeClient(configuration, logger: logger)))
    }

    /// Connects, creates or migrates the schema, and returns the database; `run()` it next.
    ///
    /// Throws `PostgresStoreError` if the server cannot be reached within the timeout or a
    /// migration fails. Two nodes opening at once serialise on an advisory lock.
    public static func open(
        configuration: Configuration,
        logger: Logger = Logger(label: "cloakroom.postgres")
    ) async throws -> CloakroomPostgresDatabase {
        let database = try CloakroomPostgresDatabase(configuration: configuration, logger: logger)
        try await database.migrate()
        return database
    }

    /// Parses `url` (see `Configuration.init(url:)`) and opens the database.
    public static func open(
        url: String,
        timeout: Duration = .seconds(2),
        logger: Logger = Logger(label: "cloakroom.postgres")
    ) async throws -> CloakroomPostgresDatabase {
        try await open(configuration: Configuration(url: url, timeout: timeout), logger: logger)
    }

    /// Opens the database, runs it for the duration of `body`, then closes it (for commands and
    /// tests that have no `ServiceGroup`).
    public static func withDatabase<T: Sendable>(
        configuration: Configuration,
        logger: Logger = Logger(label: "cloakroom.postgres"),
        _ body: @Sendable (CloakroomPostgresDatabase) async throws -> T
    ) async throws -> T {
        let database = try await open(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask { try await database.run() }
            do {
                let value = try await body(database)
                await database.close()
                try await group.waitForAll()
                return value
            } catch {
                await database.close()
                group.cancelAll()
                throw error
            }
        }
    }

    /// Runs the connection pool until graceful shutdown, cancellation or `close()`.
    ///
    /// Also watches for a pool stuck after an outage and replaces it (see the type's summary).
    /// Returns at once if the database was closed first; throws if it is already running.
    public func run() async throws {
        let (stopSignal, stopContinuation) = AsyncStream<Void>.makeStream()
        let previous = state.withLock { state -> Phase in
            let previous = state.phase
            if previous == .idle {
                state.phase = .running
                state.stop = stopContinuation
            }
            return previous
        }
        switch previous {
        case .idle: break
        case .running: throw PostgresStoreError("the PostgreSQL database is already running")
        case .stopped: return
        }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for await _ in stopSignal {} }
                group.addTask { await self.superviseClients() }
                _ = await group.next()
                group.cancelAll()
            }
        }
        let waiters = state.withLock { state in
            state.phase = .stopped
            state.stop = nil
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Stops the pool (ending `run()`) and waits for it; later store calls fail at once.
    public func close() async {
        let mustWait = state.withLock { state -> Bool in
            switch state.phase {
            case .idle:
                state.phase = .stopped
                return false
            case .running:
                state.stop?.finish()
                return true
            case .stopped:
                return false
            }
        }
        guard mustWait else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = state.withLock { state -> Bool in
                if state.phase == .stopped { return true }
                state.waiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }

    /// The schema version the database is at.
    public func schemaVersion() async throws -> Int {
        let rows = try await query("SELECT COALESCE(MAX(version), 0)::bigint FROM cloakroom_schema_migrations", "schema version")
        guard let row = rows.first else { return 0 }
        return try row.decode(Int.self)
    }

    // MARK: - Queries

    /// `query` for a store: a database failure is reported as `StoreError.unavailable`, what the
    /// store protocols promise their callers.
    @discardableResult
    func run(_ what: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await self.query(query, what)
        } catch let error as PostgresStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    /// Runs one statement on a pooled connection and collects its rows, within the timeout.
    @discardableResult
    func query(_ query: PostgresQuery, _ what: String) async throws -> [PostgresRow] {
        // The future API collects the rows on the connection's event loop and wakes this task
        // once; the row sequence wakes it again for rows that arrive after it resumed.
        try await withConnection(what) { connection in
            try await connection.query(query, logger: self.logger).get().rows
        }
    }

    /// Runs `body` on a pooled connection within `Configuration.timeout` (the wait for a connection
    /// included). On timeout the connection is closed, so the server abandons the statement too.
    /// Failures are `PostgresStoreError`s.
    func withConnection<T: Sendable>(
        _ what: String,
        timeout: Duration? = nil,
        recordingHealth: Bool = true,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let limit = timeout ?? configuration.timeout
        let (client, phase) = try state.withLock { state -> (PostgresClient, Phase) in
            guard state.phase != .stopped else { throw PostgresStoreError.closed }
            return (state.client, state.phase)
        }
        let leased = LeasedConnection()
        do {
            let value = try await Self.withDeadline(limit, what, onTimeout: { leased.close() }) {
                try await client.withConnection { connection in
                    leased.set(connection)
                    defer { leased.set(nil) }
                    return try await body(connection)
                }
            }
            if recordingHealth { recordSuccess() }
            return value
        } catch {
            // The caller gave up (a client went away): says nothing about the server.
            if Task.isCancelled { throw PostgresStoreError("PostgreSQL \(what) was cancelled") }
            var failure = PostgresStoreError(wrapping: error, during: what)
            if phase == .idle, state.withLock({ $0.phase == .idle }) {
                failure = PostgresStoreError(
                    failure.message + " (the database is not running: add it to a ServiceGroup or call run())",
                    sqlState: failure.sqlState,
                    isConnectivity: true
                )
            }
            if recordingHealth, failure.isConnectivity { recordFailure(failure) }
            throw failure
        }
    }

}

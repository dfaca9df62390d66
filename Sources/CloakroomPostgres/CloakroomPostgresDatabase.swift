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
    /// How to reach the server and how long to wait for it.
    public struct Configuration: Sendable, CustomStringConvertible {
        /// Whether to use TLS and how to check the server, as libpq's `sslmode` (same names).
        public enum TLSMode: String, Sendable {
            /// Plain TCP.
            case disable
            /// TLS when the server offers it, plain otherwise; the certificate is not checked
            /// (libpq's default: protects against passive eavesdropping only).
            case prefer
            /// TLS or no connection; the certificate is not checked (as libpq's `require`).
            case require
            /// TLS with a certificate chain trusted by the system roots, any host name.
            case verifyCA = "verify-ca"
            /// TLS with a trusted certificate for this host name: the only mode that stops an
            /// active attacker.
            case verifyFull = "verify-full"
        }

        /// Host name or IP address.
        public var host: String
        /// TCP port.
        public var port: Int
        /// Role to connect as.
        public var username: String
        /// Password, if the server asks for one. Never printed.
        public var password: String?
        /// Database name.
        public var database: String
        /// TLS use.
        public var tls: TLSMode
        /// Connect timeout and the bound on every store call, waiting for a pooled connection included.
        public var timeout: Duration
        /// Bound on opening and migrating the schema (migrations wait for another node's lock).
        public var migrationTimeout: Duration
        /// Most connections the pool opens.
        public var maximumConnections: Int

        /// Creates a configuration.
        public init(
            host: String, port: Int = 5432, username: String, password: String? = nil, database: String,
            tls: TLSMode = .prefer, timeout: Duration = .seconds(2), migrationTimeout: Duration = .seconds(30),
            maximumConnections: Int = 20
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.tls = tls
            self.timeout = timeout
            self.migrationTimeout = migrationTimeout
            self.maximumConnections = maximumConnections
        }

        /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`
        /// (`postgresql://` too); user, password and database may be percent-encoded.
        public init(url: String, timeout: Duration = .seconds(2)) throws {
            guard let components = URLComponents(string: url),
                  let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
            else { throw PostgresStoreError("a PostgreSQL URL looks like postgres://user:password@host:5432/database") }
            guard var host = components.host, !host.isEmpty else { throw PostgresStoreError("the PostgreSQL URL has no host") }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard let username = components.user, !username.isEmpty else {
                throw PostgresStoreError("the PostgreSQL URL has no user name")
            }
            let database = String(components.path.drop(while: { $0 == "/" }))
            guard !database.isEmpty, !database.contains("/") else {
                throw PostgresStoreError("the PostgreSQL URL names no database (postgres://user@host/database)")
            }
            var tls = TLSMode.prefer
            for item in components.queryItems ?? [] {
                switch item.name {
                case "sslmode":
                    let value = item.value ?? ""
                    if value == "allow" {
                        tls = .disable
                    } else if let mode = TLSMode(rawValue: value) {
                        tls = mode
                    } else {
                        throw PostgresStoreError("unknown sslmode in the PostgreSQL URL (disable, prefer, require, verify-ca or verify-full)")
                    }
                default:
                    throw PostgresStoreError("unsupported PostgreSQL URL parameter \(item.name) (only sslmode)")
                }
            }
            // The port's text, not `components.port`: a number too large for Int reads as no port.
            var port = 5432
            if let range = components.rangeOfPort {
                guard let value = Int(url[range]), (1...65535).contains(value) else {
                    throw PostgresStoreError("the PostgreSQL URL's port is not 1 to 65535")
                }
                port = value
            }
            self.init(host: host, port: port, username: username, password: components.password,
                      database: database, tls: tls, timeout: timeout)
        }

        /// The URL without the password.
        public var description: String {
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "postgres://\(username)@\(shownHost):\(port)/\(database)?sslmode=\(tls.rawValue)"
        }
    }

    /// Where the database is and how long calls may take.
    public let configuration: Configuration
    let logger: Logger
    private let state: Mutex<State>

    private enum Phase { case idle, running, stopped }

    private struct State {
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
        configuration: Configuration, logger: Logger = Logger(label: "cloakroom.postgres")
    ) async throws -> CloakroomPostgresDatabase {
        let database = try CloakroomPostgresDatabase(configuration: configuration, logger: logger)
        try await database.migrate()
        return database
    }

    /// Parses `url` (see `Configuration.init(url:)`) and opens the database.
    public static func open(
        url: String, timeout: Duration = .seconds(2), logger: Logger = Logger(label: "cloakroom.postgres")
    ) async throws -> CloakroomPostgresDatabase {
        try await open(configuration: Configuration(url: url, timeout: timeout), logger: logger)
    }

    /// Opens the database, runs it for the duration of `body`, then closes it (for commands and
    /// tests that have no `ServiceGroup`).
    public static func withDatabase<T: Sendable>(
        configuration: Configuration, logger: Logger = Logger(label: "cloakroom.postgres"),
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

    /// Runs one statement on a pooled connection and collects its rows, within the timeout.
    @discardableResult
    func query(_ query: PostgresQuery, _ what: String) async throws -> [PostgresRow] {
        try await withConnection(what) { connection in
            try await connection.query(query, logger: self.logger).collect()
        }
    }

    /// Runs `body` on a pooled connection within `Configuration.timeout` (the wait for a connection
    /// included). On timeout the connection is closed, so the server abandons the statement too.
    /// Failures are `PostgresStoreError`s.
    func withConnection<T: Sendable>(
        _ what: String, timeout: Duration? = nil, recordingHealth: Bool = true,
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
                failure = PostgresStoreError(failure.message + " (the database is not running: add it to a ServiceGroup or call run())",
                                             sqlState: failure.sqlState, isConnectivity: true)
            }
            if recordingHealth, failure.isConnectivity { recordFailure(failure) }
            throw failure
        }
    }

    /// Runs `body`, throwing a timeout error (after calling `onTimeout`) if it takes longer than `limit`.
    ///
    /// The caller gets its answer at the deadline even if `body` does not react to cancellation at
    /// once (a statement on a dead socket): `body` is cancelled and left to finish on its own, instead
    /// of a task group waiting for it, which would stretch a 2 s timeout to however long the socket takes.
    static func withDeadline<T: Sendable>(
        _ limit: Duration, _ what: String, onTimeout: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let outcome = DeadlineOutcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.install(continuation)
                let work = Task {
                    do {
                        outcome.finish(.success(try await body()))
                    } catch {
                        outcome.finish(.failure(error))
                    }
                }
                outcome.setWork(work)
                Task {
                    try? await Task.sleep(for: limit)
                    if outcome.finish(.failure(PostgresStoreError.timedOut(what, after: limit))) {
                        onTimeout()
                        work.cancel()
                    }
                }
            }
        } onCancel: {
            outcome.cancel()
        }
    }

    // MARK: - Pool supervision

    /// How often `run()` checks whether the pool is stuck after an outage.
    private static let recoveryCheckInterval: Duration = .milliseconds(500)
    /// How long a replaced pool keeps serving the calls already on it.
    private static let retiredPoolGrace: Duration = .seconds(5)

    /// Notes a call that worked; logs once when calls start working again.
    private func recordSuccess() {
        let recovered = state.withLock { state -> Bool in
            guard state.failingSince != nil else { return false }
            state.failingSince = nil
            return true
        }
        if recovered { logger.notice("PostgreSQL answers again", metadata: ["database": "\(configuration)"]) }
    }

    /// Notes a call that could not reach the server; logs once per outage.
    private func recordFailure(_ failure: PostgresStoreError) {
        let first = state.withLock { state -> Bool in
            guard state.failingSince == nil else { return false }
            state.failingSince = .now
            return true
        }
        if first {
            logger.warning("PostgreSQL unreachable", metadata: ["database": "\(configuration)", "error": "\(failure.message)"])
        }
    }

    /// Runs the current pool; replaces it when calls have failed for a while, the pool still cannot
    /// serve `SELECT 1`, yet a fresh connection can.
    private func superviseClients() async {
        await withDiscardingTaskGroup { pools in
            var retire = Self.start(state.withLock { $0.client }, in: &pools)
            while !Task.isCancelled {
                do { try await Task.sleep(for: Self.recoveryCheckInterval) } catch { break }
                let failingSince = state.withLock { $0.failingSince }
                guard let failingSince, failingSince.duration(to: .now) >= configuration.timeout else { continue }
                guard await serverAnswers() else { continue }
                if await poolAnswers() {
                    recordSuccess()
                    continue
                }
                let fresh: PostgresClient
                do { fresh = try Self.makeClient(configuration, logger: logger) } catch { continue }
                let retireFresh = Self.start(fresh, in: &pools)
                state.withLock { $0.client = fresh }
                retire.finish()
                retire = retireFresh
                logger.notice("PostgreSQL is back; replaced the connection pool", metadata: ["database": "\(configuration)"])
                recordSuccess()
            }
            retire.finish()
            pools.cancelAll()
        }
    }

    /// Runs `client` as a child of `pools` until the returned continuation is finished (then after a
    /// grace period) or `pools` is cancelled.
    private static func start(_ client: PostgresClient, in pools: inout DiscardingTaskGroup) -> AsyncStream<Void>.Continuation {
        let (retired, retire) = AsyncStream<Void>.makeStream()
        pools.addTask {
            await withTaskGroup(of: Void.self) { pool in
                pool.addTask { await client.run() }
                for await _ in retired {}
                if !Task.isCancelled { try? await Task.sleep(for: retiredPoolGrace) }
                pool.cancelAll()
            }
        }
        return retire
    }

    /// Whether a fresh, unpooled connection can run `SELECT 1` within the timeout.
    private func serverAnswers() async -> Bool {
        let leased = LeasedConnection()
        let configuration = configuration
        let logger = logger
        do {
            try await Self.withDeadline(configuration.timeout, "probe", onTimeout: { leased.close() }) {
                let connection = try await PostgresConnection.connect(
                    configuration: try Self.connectionConfiguration(configuration), id: 0, logger: logger)
                leased.set(connection)
                do {
                    try await connection.query("SELECT 1", logger: logger)
                } catch {
                    leased.close()
                    throw error
                }
                try? await connection.close()
            }
            return true
        } catch {
            return false
        }
    }

    /// Whether the current pool serves `SELECT 1` promptly.
    private func poolAnswers() async -> Bool {
        do {
            _ = try await withConnection("probe", timeout: .milliseconds(500), recordingHealth: false) { connection in
                try await connection.query("SELECT 1", logger: self.logger).collect()
            }
            return true
        } catch {
            return false
        }
    }

    // MARK: - Configuration mapping

    private static func makeClient(_ configuration: Configuration, logger: Logger) throws -> PostgresClient {
        let tls: PostgresClient.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(tlsConfiguration(configuration.tls))
        case .require, .verifyCA, .verifyFull: tls = .require(tlsConfiguration(configuration.tls))
        }
        var client = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: tls)
        client.options.connectTimeout = configuration.timeout
        client.options.maximumConnections = max(1, configuration.maximumConnections)
        client.options.additionalStartupParameters = Self.startupParameters(configuration)
        // PostgresNIO logs every failed connection attempt at info and warns about leases that
        // race `run()`; this type reports outages itself (once each), so keep the pool quiet
        // unless debugging.
        var background = logger
        if background.logLevel > .debug, background.logLevel < .error { background.logLevel = .error }
        return PostgresClient(configuration: client, backgroundLogger: background)
    }

    static func connectionConfiguration(_ configuration: Configuration) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch configuration.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration(configuration.tls)))
            case .require, .verifyCA, .verifyFull:
                tls = .require(try NIOSSLContext(configuration: tlsConfiguration(configuration.tls)))
            }
        } catch {
            throw PostgresStoreError("cannot set up TLS for PostgreSQL: \(String(describing: type(of: error)))")
        }
        var connection = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: tls)
        connection.options.connectTimeout = configuration.timeout.timeAmount
        return connection
    }

    /// Client TLS settings for `mode`, checking the certificate as libpq's `sslmode` does.
    private static func tlsConfiguration(_ mode: Configuration.TLSMode) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        return tls
    }

    /// The server abandons a statement the client has stopped waiting for.
    private static func startupParameters(_ configuration: Configuration) -> [(String, String)] {
        let (seconds, attoseconds) = configuration.timeout.components
        let milliseconds = max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        return [("statement_timeout", "\(milliseconds)"), ("application_name", "cloakroom")]
    }
}

/// The connection a call is using, so a timeout can close it under a statement that hangs.
final class LeasedConnection: Sendable {
    private let connection = Mutex<PostgresConnection?>(nil)

    func set(_ value: PostgresConnection?) {
        connection.withLock { $0 = value }
    }

    func close() {
        guard let connection = connection.withLock({ $0 }) else { return }
        let closed: EventLoopFuture<Void> = connection.close()
        closed.whenComplete { _ in }
    }
}

/// The first of a call's result, its deadline or its cancellation wins; the others are ignored.
final class DeadlineOutcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var pending: Result<T, any Error>?
        var work: Task<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let pending = state.withLock { state -> Result<T, any Error>? in
            state.continuation = continuation
            return state.pending
        }
        if let pending { continuation.resume(with: pending) }
    }

    func setWork(_ work: Task<Void, Never>) {
        let cancelled = state.withLock { state -> Bool in
            state.work = work
            return state.finished
        }
        if cancelled { work.cancel() }
    }

    /// Delivers `result` if nothing was delivered yet; returns whether it was.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>?? in
            guard !state.finished else { return .none }
            state.finished = true
            guard let continuation = state.continuation else {
                state.pending = result
                return .some(nil)
            }
            state.continuation = nil
            return .some(continuation)
        }
        switch continuation {
        case .none: return false
        case .some(let resume):
            resume?.resume(with: result)
            return true
        }
    }

    func cancel() {
        let work = state.withLock { $0.work }
        if finish(.failure(CancellationError())) { work?.cancel() }
    }
}

extension CloakroomPostgresDatabase {
    /// One `SELECT 1` round trip through the pool: the ceiling any store on it can reach.
    package func selectOne() async throws {
        try await query("SELECT 1", "select 1")
    }

    /// Bytes the sessions table uses on disk, indexes and TOAST included (`pg_total_relation_size`).
    public func sessionTableBytes() async throws -> Int {
        let rows = try await query("SELECT pg_total_relation_size('cloakroom_sessions')::bigint", "table size")
        guard let row = rows.first else { return 0 }
        return Int(try row.decode(Int64.self))
    }
}

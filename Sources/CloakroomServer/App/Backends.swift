import CloakroomCore
import CloakroomIdentity
import CloakroomOAuth
import CloakroomPostgres
import CloakroomRedis
import CloakroomSQLite
import CloakroomSessions
import CloakroomTokens
import CoreMetrics
import Crypto
import Foundation
import Logging
import ServiceLifecycle

/// The stores a server (or a CLI command) works on.
///
/// `sessions` and `throttle` (every expiring record) live at the store URL; accounts are durable
/// and live in SQLite, PostgreSQL or memory (`--accounts`, by default the store itself when it can
/// hold accounts, else `sqlite:./cloakroom.sqlite`).
struct Backends: Sendable {
    /// Where sessions live: a `CompleteSessionStore` at the store URL, or, with `--store cookie`,
    /// a `CookieSessionStore` (the browsers hold them; `sessionEpochs` revokes them).
    let sessions: any SessionStore
    let accounts: any IterableAccountStore
    /// Registered OAuth clients, beside the accounts.
    let clients: any OAuthClientStore
    /// What each user allowed each OAuth client, beside the accounts.
    let consents: any ConsentStore
    /// Links of local accounts to accounts at other OpenID providers, beside the accounts.
    let federated: any FederatedIdentityStore
    let throttle: any ThrottleStore
    /// Refresh-token families, revocation epochs and the jti deny-list (at the store URL).
    let tokens: any TokenStore
    /// Per-user session epochs, beside the accounts: what revokes sessions kept in cookies.
    let sessionEpochs: any SessionEpochStore
    let purgeThrottle: @Sendable (Date) async throws -> Int
    /// Removes expired token state (`TokenStore.deleteExpired`, in batches of 1,000); returns how many.
    let purgeTokens: @Sendable (Date) async throws -> Int
    /// Background work the backends need while the server runs (connection pools).
    let services: [any Service]
    let close: @Sendable () async throws -> Void
    /// The kind of session store (`memory`, `sqlite`, `file`, `postgres`, `redis`), as metrics label it.
    var storeKind = "store"

    static func open(_ location: StoreLocation, accounts accountsLocation: StoreLocation? = nil, logger: Logger) async throws -> Backends {
        let accountsAt = accountsLocation ?? location.defaultAccounts
        guard accountsAt.canHoldAccounts else {
            throw ConfigurationError("accounts cannot live in \(accountsAt): use sqlite:PATH, postgres://… or memory")
        }
        var closers: [@Sendable () async throws -> Void] = []
        var services: [any Service] = []
        var postgresDatabases: [String: CloakroomPostgresDatabase] = [:]
        func postgres(_ url: String) async throws -> CloakroomPostgresDatabase {
            if let open = postgresDatabases[url] { return open }
            let configuration: CloakroomPostgresDatabase.Configuration
            do {
                configuration = try CloakroomPostgresDatabase.Configuration(url: url)
            } catch {
                throw ConfigurationError("store URL \(StoreLocation.redacted(url)): \(error)")
            }
            let database = try await CloakroomPostgresDatabase.open(configuration: configuration, logger: logger)
            postgresDatabases[url] = database
            services.append(database)
            closers.append { await database.close() }
            return database
        }
        var sqliteFiles: [String: CloakroomSQLiteDatabase] = [:]
        func sqlite(_ path: String) async throws -> CloakroomSQLiteDatabase {
            if let open = sqliteFiles[path] { return open }
            let database = try await CloakroomSQLiteDatabase.open(path: path, logger: logger)
            sqliteFiles[path] = database
            closers.append { try await database.close() }
            return database
        }

        var sessions: any SessionStore
        let throttle: any ThrottleStore
        let tokens: any TokenStore
        let purge: @Sendable (Date) async throws -> Int
        // With sessions in cookies, what the server still keeps (tokens, counters) lives with the accounts.
        switch location == .cookie ? accountsAt : location {
        case .cookie:
            throw ConfigurationError("accounts cannot live in cookies")
        case .memory:
            sessions = MemorySessionStore()
            throttle = MemoryThrottleStore()
            tokens = MemoryTokenStore()
            purge = { _ in 0 }
        case .sqlite(let path):
            let database = try await sqlite(path)
            let counters = SQLiteThrottleStore(database: database)
            sessions = SQLiteSessionStore(database: database)
            tokens = SQLiteTokenStore(database: database)
            throttle = counters
            purge = { try await counters.purge(before: $0.addingTimeInterval(-86_400)) }
        case .file(let directory):
            let url = URL(fileURLWithPath: directory, isDirectory: true)
            // Made owner-only (0700) when we create it: it holds sessions and token state. A folder
            // the operator made keeps its mode.
            if !FileManager.default.fileExists(atPath: url.path) {
                try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            sessions = try FileSessionStore(directory: url)
            tokens = try FileTokenStore(directory: url)
            let counters = try FileThrottleStore(directory: url)
            throttle = counters
            purge = { try await counters.purge(before: $0.addingTimeInterval(-86_400)) }
        case .postgres(let url):
            let database = try await postgres(url)
            let counters = PostgresThrottleStore(database: database)
            sessions = PostgresSessionStore(database: database)
            tokens = PostgresTokenStore(database: database)
            throttle = counters
            purge = { try await counters.purge(before: $0.addingTimeInterval(-86_400)) }
        case .redis(let url):
            let configuration: RedisConfiguration
            do {
                configuration = try RedisConfiguration(url: url)
            } catch {
                throw ConfigurationError("store URL \(StoreLocation.redacted(url)): \(error)")
            }
            // A wrong password or database stops the start, as it does for PostgreSQL; a Redis that
            // is merely down may come up later (the pool keeps retrying), so that only warns.
            switch await RedisProbe.check(configuration) {
            case .ready:
                break
            case .refused(let reason):
                // Exit 1 like a PostgreSQL that refuses its password: the URL parsed, the server said no.
                throw CommandFailure("store URL \(StoreLocation.redacted(url)): \(reason)")
            case .unreachable(let reason):
                logger.warning(
                    "redis is not reachable yet; requests get 503 until it is",
                    metadata: [
                        "store": "\(StoreLocation.redacted(url))", "reason": "\(reason)",
                    ]
                )
            }
            let database = CloakroomRedisDatabase(configuration: configuration, logger: logger)
            sessions = RedisSessionStore(database: database)
            tokens = RedisTokenStore(database: database)
            throttle = RedisThrottleStore(database: database)
            purge = { _ in 0 }  // Redis expires counters itself (PEXPIRE).
            closers.append { await database.shutdown() }
        }

        let accounts: any IterableAccountStore
        let clients: any OAuthClientStore
        let consents: any ConsentStore
        let federated: any FederatedIdentityStore
        let epochs: any SessionEpochStore
        do {
            switch accountsAt {
            case .memory:
                accounts = MemoryAccountStore()
                clients = MemoryOAuthClientStore()
                consents = MemoryConsentStore()
                federated = MemoryFederatedIdentityStore()
                epochs = MemorySessionEpochStore()
            case .sqlite(let path):
                let database = try await sqlite(path)
                accounts = SQLiteAccountStore(database: database)
                clients = SQLiteOAuthClientStore(database: database)
                consents = SQLiteConsentStore(database: database)
                federated = SQLiteFederatedIdentityStore(database: database)
                epochs = SQLiteSessionEpochStore(database: database)
            case .postgres(let url):
                let database = try await postgres(url)
                accounts = PostgresAccountStore(database: database)
                clients = PostgresOAuthClientStore(database: database)
                consents = PostgresConsentStore(database: database)
                federated = PostgresFederatedIdentityStore(database: database)
                epochs = PostgresSessionEpochStore(database: database)
            case .file, .redis, .cookie:
                throw ConfigurationError("accounts cannot live in \(accountsAt)")
            }
        } catch {
            // The session store is open by now: close it before giving up, or its connections
            // would stay open (files, threads) until the process ends.
            for close in closers { try? await close() }
            throw error
        }

        if location == .cookie {
            // Sealed under a key of this process until the server gives it its own
            // (`sealingCookieSessions`): the key and cookie name are the server's, not the store's.
            sessions = CookieSessionStore(
                ring: SealingKeyRing(.init(SymmetricKey(size: .bits256), id: "s0")),
                cookieName: "cloakroom",
                epochs: epochs
            )
        }
        let allClosers = closers
        let allServices = services
        let purgeTokens: @Sendable (Date) async throws -> Int = { [tokens] now in
            var total = 0
            while true {
                let removed = try await tokens.deleteExpired(now: now, limit: 1000)
                total += removed
                if removed < 1000 { return total }
            }
        }
        var backends = Backends(
            sessions: sessions,
            accounts: accounts,
            clients: clients,
            consents: consents,
            federated: federated,
            throttle: throttle,
            tokens: tokens,
            sessionEpochs: epochs,
            purgeThrottle: purge,
            purgeTokens: purgeTokens,
            services: allServices,
            close: { for close in allClosers { try? await close() } }
        )
        backends.storeKind = location.kind
        return backends
    }

    /// Throws when the session store does not answer (sessions in cookies: the epoch table).
    func pingSessions() async throws {
        try await (sessions as? any PingableStore)?.ping()
    }

    /// The session store, for walking every session; `StoreError.unsupported` when sessions live
    /// in the browsers' cookies.
    func iterableSessions() throws -> any IterableSessionStore {
        guard let iterable = sessions as? any IterableSessionStore else {
            throw StoreError.unsupported("list every session: with --store cookie they live in the browsers' cookies")
        }
        return iterable
    }

    /// The same backends with the session store counted (`MeteredSessionStore`) on `factory`.
    /// Sessions kept in cookies touch no store, so there is nothing to count.
    func meteringSessions(factory: any MetricsFactory) -> Backends {
        guard let complete = sessions as? any CompleteSessionStore else { return self }
        return replacingSessions(MeteredSessionStore(complete, name: storeKind, factory: factory))
    }

    /// With `--store cookie`: the backends with the cookie sessions sealed under `ring` for the
    /// cookie named `cookieName` (the server's session cookie); otherwise these backends.
    func sealingCookieSessions(ring: SealingKeyRing, cookieName: String, logger: Logger) -> Backends {
        guard sessions is CookieSessionStore else { return self }
        return replacingSessions(CookieSessionStore(ring: ring, cookieName: cookieName, epochs: sessionEpochs, logger: logger))
    }

    /// The same backends with another session store in front (a decorator of this one).
    func replacingSessions(_ sessions: any SessionStore) -> Backends {
        var copy = Backends(
            sessions: sessions,
            accounts: accounts,
            clients: clients,
            consents: consents,
            federated: federated,
            throttle: throttle,
            tokens: tokens,
            sessionEpochs: sessionEpochs,
            purgeThrottle: purgeThrottle,
            purgeTokens: purgeTokens,
            services: services,
            close: close
        )
        copy.storeKind = storeKind
        return copy
    }
}

extension StoreLocation {
    /// The store's kind, without its path or URL (a metrics label).
    var kind: String {
        switch self {
        case .memory: "memory"
        case .sqlite: "sqlite"
        case .file: "file"
        case .postgres: "postgres"
        case .redis: "redis"
        case .cookie: "cookie"
        }
    }
}

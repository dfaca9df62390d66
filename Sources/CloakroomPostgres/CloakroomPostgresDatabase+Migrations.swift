import CloakroomCore
import Foundation
import Logging
import PostgresNIO

extension CloakroomPostgresDatabase {
    /// The advisory lock every node takes while migrating (`pg_advisory_xact_lock`): "cloakroo" in ASCII.
    static let migrationLockKey: Int64 = 0x636C_6F61_6B72_6F6F

    /// Migrations, in order; each runs once, in its own transaction, recorded in
    /// `cloakroom_schema_migrations`.
    ///
    /// Times are `timestamptz` (microseconds); `data` is the JSON text of the record's values, as in
    /// SQLite (`text` rather than `jsonb`, which would refuse a `\u0000` in a value). Keys use the
    /// "C" collation so `list` pages in the same byte order as Swift's `<` on the hex keys.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE cloakroom_sessions (
                key text COLLATE "C" PRIMARY KEY,
                handle text NOT NULL,
                user_id text,
                data text NOT NULL,
                created_at timestamptz NOT NULL,
                last_seen timestamptz NOT NULL,
                authenticated_at timestamptz,
                idle_expires_at timestamptz NOT NULL,
                absolute_expires_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                user_agent text,
                ip_address text,
                version bigint NOT NULL
            )
            """,
            "CREATE INDEX cloakroom_sessions_expires_at ON cloakroom_sessions (expires_at)",
            "CREATE INDEX cloakroom_sessions_user_id ON cloakroom_sessions (user_id) WHERE user_id IS NOT NULL",
            """
            CREATE TABLE cloakroom_accounts (
                id text PRIMARY KEY,
                username text NOT NULL,
                username_key text NOT NULL,
                password_hash text NOT NULL,
                created_at timestamptz NOT NULL,
                disabled boolean NOT NULL DEFAULT false
            )
            """,
            "CREATE UNIQUE INDEX cloakroom_accounts_username_key ON cloakroom_accounts (username_key)",
            """
            CREATE TABLE cloakroom_throttle (
                key text PRIMARY KEY,
                failures integer NOT NULL,
                last_failure timestamptz NOT NULL
            )
            """,
            "CREATE INDEX cloakroom_throttle_last_failure ON cloakroom_throttle (last_failure)",
        ],
        // 2: token state (PostgresTokenStore); times are stored rounded to milliseconds.
        [
            """
            CREATE TABLE cloakroom_refresh_tokens (
                key text COLLATE "C" PRIMARY KEY,
                family_id text NOT NULL,
                user_id text NOT NULL,
                client_id text NOT NULL,
                scope text NOT NULL,
                issued_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                family_expires_at timestamptz NOT NULL,
                used_at timestamptz
            )
            """,
            "CREATE INDEX cloakroom_refresh_tokens_family_id ON cloakroom_refresh_tokens (family_id)",
            "CREATE INDEX cloakroom_refresh_tokens_user_id ON cloakroom_refresh_tokens (user_id)",
            "CREATE INDEX cloakroom_refresh_tokens_expires_at ON cloakroom_refresh_tokens (expires_at)",
            """
            CREATE TABLE cloakroom_token_epochs (
                user_id text PRIMARY KEY,
                epoch bigint NOT NULL,
                keep_until timestamptz NOT NULL
            )
            """,
            "CREATE INDEX cloakroom_token_epochs_keep_until ON cloakroom_token_epochs (keep_until)",
            """
            CREATE TABLE cloakroom_denied_token_ids (
                jti text PRIMARY KEY,
                until timestamptz NOT NULL
            )
            """,
            "CREATE INDEX cloakroom_denied_token_ids_until ON cloakroom_denied_token_ids (until)",
        ],
        // 3: registered OAuth clients (PostgresOAuthClientStore), each a JSON document.
        [
            """
            CREATE TABLE cloakroom_oauth_clients (
                id text PRIMARY KEY,
                created_at timestamptz NOT NULL,
                document text NOT NULL
            )
            """
        ],
        // 4: what each user allowed each OAuth client (PostgresConsentStore).
        [
            """
            CREATE TABLE cloakroom_oauth_consents (
                user_id text NOT NULL,
                client_id text NOT NULL,
                scope text NOT NULL,
                granted_at timestamptz NOT NULL,
                PRIMARY KEY (user_id, client_id)
            )
            """,
            "CREATE INDEX cloakroom_oauth_consents_client ON cloakroom_oauth_consents (client_id)",
        ],
        // 5: local accounts linked to accounts at other OpenID providers (PostgresFederatedIdentityStore).
        [
            """
            CREATE TABLE cloakroom_federated_identities (
                provider text NOT NULL,
                subject text NOT NULL,
                user_id text NOT NULL,
                linked_at timestamptz NOT NULL,
                PRIMARY KEY (provider, subject)
            )
            """,
            "CREATE INDEX cloakroom_federated_identities_user ON cloakroom_federated_identities (user_id)",
        ],
        // 6: per-user epochs that revoke sessions kept in cookies (PostgresSessionEpochStore).
        [
            """
            CREATE TABLE cloakroom_session_epochs (
                user_id text PRIMARY KEY,
                epoch bigint NOT NULL
            )
            """
        ],
    ]

    /// The schema version `open` migrates to.
    public static var latestSchemaVersion: Int { migrations.count }

    /// Applies pending migrations on a dedicated connection (the pool is not running yet).
    ///
    /// Each migration is one transaction that first takes the advisory lock, then re-reads the
    /// version, so two nodes starting at once apply it exactly once and neither fails.
    func migrate() async throws {
        let configuration = configuration
        let logger = logger
        let leased = LeasedConnection()
        do {
            try await Self.withDeadline(configuration.migrationTimeout, "migration", onTimeout: { leased.close() }) {
                let connection = try await Self.connectForMigration(configuration, logger: logger)
                leased.set(connection)
                do {
                    try await Self.applyMigrations(on: connection, logger: logger)
                } catch {
                    leased.close()
                    throw error
                }
                try? await connection.close()
            }
        } catch {
            throw PostgresStoreError(wrapping: error, during: "migration")
        }
    }

    private static func connectForMigration(_ configuration: Configuration, logger: Logger) async throws -> PostgresConnection {
        let connection = try connectionConfiguration(configuration)
        do {
            return try await PostgresConnection.connect(configuration: connection, id: 0, logger: logger)
        } catch {
            let failure = PostgresStoreError(wrapping: error, during: "connect")
            throw PostgresStoreError(
                "cannot open PostgreSQL database \(configuration): \(failure.message)",
                sqlState: failure.sqlState,
                isConnectivity: failure.isConnectivity
            )
        }
    }

    private static func applyMigrations(on connection: PostgresConnection, logger: Logger) async throws {
        for (offset, statements) in migrations.enumerated() {
            let version = offset + 1
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS cloakroom_schema_migrations (
                        version integer PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    logger: logger
                )
                let rows = try await connection.query(
                    "SELECT COALESCE(MAX(version), 0)::bigint FROM cloakroom_schema_migrations",
                    logger: logger
                ).collect()
                let current = try rows.first?.decode(Int.self) ?? 0
                guard current < version else { return }
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO cloakroom_schema_migrations (version) VALUES (\(Int32(version)))",
                    logger: logger
                )
                logger.info("applied PostgreSQL schema migration", metadata: ["version": "\(version)"])
            }
        }
    }
}

import CloakroomCore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

extension CloakroomPostgresDatabase {
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
        /// Whether each connection keeps the statements of every request prepared (default): the
        /// server then only binds and runs them. Off (`?prepared_statements=off`) for a connection
        /// pooler in transaction mode that cannot keep prepared statements (PgBouncer before 1.21,
        /// or without `max_prepared_statements`); every statement is then sent unnamed.
        public var preparesStatements: Bool

        /// Creates a configuration.
        public init(
            host: String,
            port: Int = 5432,
            username: String,
            password: String? = nil,
            database: String,
            tls: TLSMode = .prefer,
            timeout: Duration = .seconds(2),
            migrationTimeout: Duration = .seconds(30),
            maximumConnections: Int = 20,
            preparesStatements: Bool = true
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
            self.preparesStatements = preparesStatements
        }

        /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=…][&prepared_statements=off]`
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
            var prepares = true
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
                case "prepared_statements":
                    switch item.value ?? "" {
                    case "on": prepares = true
                    case "off": prepares = false
                    default: throw PostgresStoreError("prepared_statements in the PostgreSQL URL is on or off")
                    }
                default:
                    throw PostgresStoreError("unsupported PostgreSQL URL parameter \(item.name) (sslmode, prepared_statements)")
                }
            }
            // The port's text, not `components.port`: a number too large for Int reads as no port.
            var port = 5432
            // The range is in `components.string`, which may differ from `url` (URLComponents
            // percent-encodes what the URL left raw): indexing `url` with it could fall outside it.
            if let range = components.rangeOfPort, let string = components.string {
                guard let value = Int(string[range]), (1...65535).contains(value) else {
                    throw PostgresStoreError("the PostgreSQL URL's port is not 1 to 65535")
                }
                port = value
            }
            self.init(
                host: host,
                port: port,
                username: username,
                password: components.password,
                database: database,
                tls: tls,
                timeout: timeout,
                preparesStatements: prepares
            )
        }

        /// The URL without the password.
        public var description: String {
            let shownHost = host.contains(":") ? "[\(host)]" : host
            let statements = preparesStatements ? "" : "&prepared_statements=off"
            return "postgres://\(username)@\(shownHost):\(port)/\(database)?sslmode=\(tls.rawValue)\(statements)"
        }
    }
}

extension CloakroomPostgresDatabase {
    // MARK: - Configuration mapping

    static func makeClient(_ configuration: Configuration, logger: Logger) throws -> PostgresClient {
        let tls: PostgresClient.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(tlsConfiguration(configuration.tls))
        case .require, .verifyCA, .verifyFull: tls = .require(tlsConfiguration(configuration.tls))
        }
        var client = PostgresClient.Configuration(
            host: configuration.host,
            port: configuration.port,
            username: configuration.username,
            password: configuration.password,
            database: configuration.database,
            tls: tls
        )
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
            host: configuration.host,
            port: configuration.port,
            username: configuration.username,
            password: configuration.password,
            database: configuration.database,
            tls: tls
        )
        connection.options.connectTimeout = configuration.timeout.timeAmount
        return connection
    }

    /// Client TLS settings for `mode`, checking the certificate as libpq's `sslmode` does.
    static func tlsConfiguration(_ mode: Configuration.TLSMode) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        return tls
    }

    /// The server abandons a statement the client has stopped waiting for.
    static func startupParameters(_ configuration: Configuration) -> [(String, String)] {
        let (seconds, attoseconds) = configuration.timeout.components
        let milliseconds = max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        return [("statement_timeout", "\(milliseconds)"), ("application_name", "cloakroom")]
    }
}

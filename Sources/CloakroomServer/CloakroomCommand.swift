import ArgumentParser
import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomSessions
import CloakroomTokens
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `cloakroom`: the server and its operator tools.
@main
struct CloakroomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloakroom",
        abstract: "Sign-in, sessions and tokens for Swift servers.",
        subcommands: [Serve.self, Users.self, Sessions.self, Keys.self, Token.self, Bench.self]
    )

    /// Parses and runs the chosen command, as swift-argument-parser's own `main()` does, except
    /// for what a command's `run()` throws: anything but a usage error (`ValidationError`) is a
    /// runtime failure, printed as one `error: …` line with exit status 1 (`CommandFailure`).
    /// Bad flags and arguments keep the usage text and status 64.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot(nil)
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var command = command
                try command.run()
            }
        } catch {
            exit(withError: CommandFailure.exitError(for: error))
        }
    }
}

/// Options every command shares: where the data lives and how much to log.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "Where sessions and sign-in counters live: sqlite:PATH, file:DIR, postgres://USER@HOST/DB, redis://HOST:PORT/DB or memory. Env CLOAKROOM_STORE. Default sqlite:./cloakroom.sqlite")
    var store: String?

    @Option(name: .long, help: "Where accounts live: sqlite:PATH, postgres://USER@HOST/DB or memory. Env CLOAKROOM_ACCOUNTS. Default: the store itself if it can hold accounts, else sqlite:./cloakroom.sqlite")
    var accounts: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical. Env CLOAKROOM_LOG_LEVEL. Default info")
    var logLevel: String?

    func location(environment: [String: String]) throws -> StoreLocation {
        try StoreLocation(parsing: store ?? environment["CLOAKROOM_STORE"] ?? "sqlite:./cloakroom.sqlite")
    }

    func accountsLocation(environment: [String: String]) throws -> StoreLocation? {
        try (accounts ?? environment["CLOAKROOM_ACCOUNTS"]).map { try StoreLocation(parsing: $0) }
    }

    func level(environment: [String: String]) throws -> Logger.Level {
        let text = logLevel ?? environment["CLOAKROOM_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ConfigurationError("log level \(text) is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }

    func logger(environment: [String: String]) throws -> Logger {
        var logger = Logger(label: "cloakroom")
        logger.logLevel = try level(environment: environment)
        return logger
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server (pages, JSON API, health check).")

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Address to listen on. Env CLOAKROOM_HOST. Default 127.0.0.1")
    var host: String?
    @Option(help: "Port to listen on. Env CLOAKROOM_PORT. Default 8080")
    var port: Int?
    @Option(help: "Sign out after this long without activity (90s, 30m, 12h). Env CLOAKROOM_IDLE_TIMEOUT. Default 30m")
    var idleTimeout: String?
    @Option(help: "Sign out this long after sign-in, however active. Env CLOAKROOM_ABSOLUTE_LIFETIME. Default 12h")
    var absoluteLifetime: String?
    @Option(help: "Write last-seen at most this often per session. Env CLOAKROOM_TOUCH_INTERVAL. Default 60s")
    var touchInterval: String?
    @Option(help: "Close a connection that completes no request head for this long (idle, or sending its header slowly). Env CLOAKROOM_HEADER_TIMEOUT. Default 30s")
    var headerTimeout: String?
    @Option(help: "Session cookie base name (gets the __Host- prefix with --secure). Env CLOAKROOM_COOKIE_NAME. Default cloakroom")
    var cookieName: String?
    @Flag(help: "HTTPS deployment: Secure cookie with the __Host- prefix, HSTS. Env CLOAKROOM_SECURE=1")
    var secure = false
    @Flag(help: "Browser-session cookie (no Max-Age): the cookie ends when the browser closes. Env CLOAKROOM_BROWSER_SESSION_COOKIE=1")
    var browserSessionCookie = false
    @Option(help: "At most this many sessions per user. Env CLOAKROOM_MAX_SESSIONS. Default unlimited")
    var maxSessionsPerUser: Int?
    @Option(help: "Past the limit: evict-oldest or refuse. Env CLOAKROOM_SESSION_OVERFLOW. Default evict-oldest")
    var sessionOverflow: String?
    @Option(help: "Origin allowed to send state-changing requests (repeatable). Env CLOAKROOM_ALLOWED_ORIGINS (comma-separated). Default: the request's own host")
    var allowedOrigin: [String] = []
    @Option(help: "Reverse proxy (address or CIDR block, repeatable) whose X-Forwarded-For names the client. Env CLOAKROOM_TRUSTED_PROXIES (comma-separated). Default none")
    var trustedProxy: [String] = []
    @Option(help: "scrypt cost for new password hashes, as ln=15,r=8,p=3. Env CLOAKROOM_PASSWORD_HASH. Default ln=15,r=8,p=3")
    var passwordHash: String?
    @Flag(help: "Refuse new registrations. Env CLOAKROOM_REGISTRATION=closed")
    var closeRegistration = false
    @OptionGroup(title: "Tokens") var keyOptions: KeyFileOptions
    @Option(help: "Issuer (iss) of access tokens: this server's public URL. Env CLOAKROOM_ISSUER. Default http://HOST:PORT (https with --secure)")
    var issuer: String?
    @Option(help: "Audience (aud) of access tokens. Env CLOAKROOM_TOKEN_AUDIENCE. Default: the issuer")
    var tokenAudience: String?
    @Option(help: "Access token lifetime (at most 24h). Env CLOAKROOM_ACCESS_TOKEN_LIFETIME. Default 10m")
    var accessTokenLifetime: String?
    @Option(help: "A refresh token unused this long stops working. Env CLOAKROOM_REFRESH_TOKEN_IDLE. Default 14d")
    var refreshTokenIdle: String?
    @Option(help: "A token sign-in ends this long after it started, however often refreshed. Env CLOAKROOM_REFRESH_TOKEN_LIFETIME. Default 30d")
    var refreshTokenLifetime: String?
    @Option(help: "Clock skew allowed when checking exp, nbf and iat. Env CLOAKROOM_TOKEN_LEEWAY. Default 30s")
    var tokenLeeway: String?
    @Option(help: "How browsers carry tokens: header (Authorization: Bearer) or cookie (HttpOnly cookies, CSRF-checked). Env CLOAKROOM_TOKEN_TRANSPORT. Default header")
    var tokenTransport: String?

    func configuration(environment: [String: String]) throws -> ServerConfiguration {
        var config = ServerConfiguration()
        config.host = host ?? environment["CLOAKROOM_HOST"] ?? config.host
        if let text = port.map(String.init) ?? environment["CLOAKROOM_PORT"] {
            guard let value = Int(text), (0...65535).contains(value) else { throw ConfigurationError("port \(text) is not a number from 0 to 65535") }
            config.port = value
        }
        config.store = try storeOptions.location(environment: environment)
        config.accounts = try storeOptions.accountsLocation(environment: environment)
        config.logLevel = try storeOptions.level(environment: environment)
        func duration(_ flag: String?, _ env: String, _ name: String) throws -> TimeInterval? {
            guard let text = flag ?? environment[env] else { return nil }
            guard let seconds = DurationText.seconds(text), seconds > 0 else {
                throw ConfigurationError("\(name) \(text) is not a duration: use seconds or a suffix, e.g. 90s, 30m, 12h (\(DurationText.limitText))")
            }
            return TimeInterval(seconds)
        }
        var given = GivenTimes()
        if let value = try duration(idleTimeout, "CLOAKROOM_IDLE_TIMEOUT", "idle timeout") {
            config.sessions.idleTimeout = value
            given.idleTimeout = true
        }
        if let value = try duration(absoluteLifetime, "CLOAKROOM_ABSOLUTE_LIFETIME", "absolute lifetime") {
            config.sessions.absoluteLifetime = value
            given.absoluteLifetime = true
        }
        if let value = try duration(touchInterval, "CLOAKROOM_TOUCH_INTERVAL", "touch interval") {
            config.sessions.touchInterval = value
            given.touchInterval = true
        }
        if let value = try duration(headerTimeout, "CLOAKROOM_HEADER_TIMEOUT", "header timeout") {
            config.headerTimeout = value
        }
        let name = cookieName ?? environment["CLOAKROOM_COOKIE_NAME"] ?? "cloakroom"
        guard (try? Cookie(name: name, value: "x").validate()) != nil, !name.isEmpty else {
            throw ConfigurationError("cookie name \(name) is not a valid cookie name")
        }
        let secureMode = try Self.boolean("CLOAKROOM_SECURE", environment) || secure
        config.cookie = SessionCookieSettings(baseName: name, secure: secureMode)
        config.sessions.persistentCookie = !(try Self.boolean("CLOAKROOM_BROWSER_SESSION_COOKIE", environment) || browserSessionCookie)
        if let text = maxSessionsPerUser.map(String.init) ?? environment["CLOAKROOM_MAX_SESSIONS"] {
            guard let value = Int(text), value > 0 else { throw ConfigurationError("max sessions per user \(text) must be a positive number") }
            config.sessions.maxSessionsPerUser = value
        }
        if let text = sessionOverflow ?? environment["CLOAKROOM_SESSION_OVERFLOW"] {
            guard let policy = SessionConfiguration.OverflowPolicy(rawValue: text) else {
                throw ConfigurationError("session overflow \(text) is not evict-oldest or refuse")
            }
            config.sessions.overflowPolicy = policy
        }
        /// A repeatable flag's values, else the comma-separated environment variable's.
        func list(_ flag: [String], _ env: String) -> [String] {
            guard flag.isEmpty else { return flag }
            return environment[env]?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
        }
        config.allowedOrigins = try list(allowedOrigin, "CLOAKROOM_ALLOWED_ORIGINS").map(Self.origin)
        config.trustedProxies = try list(trustedProxy, "CLOAKROOM_TRUSTED_PROXIES").map { text in
            guard let range = IPAddressRange(text) else {
                throw ConfigurationError("trusted proxy \(text) is not an IP address or CIDR block written by its network address (e.g. 10.0.0.0/8, ::1)")
            }
            return range
        }
        if let text = passwordHash ?? environment["CLOAKROOM_PASSWORD_HASH"] {
            config.passwordHash = try Self.scrypt(text)
        }
        let registrationOpen = try Self.registrationOpen(environment)
        config.registrationOpen = registrationOpen && !closeRegistration
        config.tokens.issuer = try (issuer ?? environment["CLOAKROOM_ISSUER"]).map(Self.issuer)
        config.tokens.audience = tokenAudience ?? environment["CLOAKROOM_TOKEN_AUDIENCE"]
        if let value = try duration(accessTokenLifetime, "CLOAKROOM_ACCESS_TOKEN_LIFETIME", "access token lifetime") {
            guard value <= 86_400 else { throw ConfigurationError("access token lifetime must be at most 24h: a long-lived token cannot be revoked cheaply") }
            config.tokens.accessLifetime = value
        }
        if let value = try duration(refreshTokenIdle, "CLOAKROOM_REFRESH_TOKEN_IDLE", "refresh token idle lifetime") {
            config.tokens.refreshIdleLifetime = value
            given.refreshIdle = true
        }
        if let value = try duration(refreshTokenLifetime, "CLOAKROOM_REFRESH_TOKEN_LIFETIME", "refresh token lifetime") {
            config.tokens.refreshAbsoluteLifetime = value
            given.refreshLifetime = true
        }
        if let text = tokenLeeway ?? environment["CLOAKROOM_TOKEN_LEEWAY"] {
            guard let seconds = DurationText.seconds(text), seconds >= 0, seconds <= 300 else {
                throw ConfigurationError("token leeway \(text) must be a duration from 0s to 5m")
            }
            config.tokens.leeway = TimeInterval(seconds)
        }
        if let text = tokenTransport ?? environment["CLOAKROOM_TOKEN_TRANSPORT"] {
            guard let transport = TokenSettings.Transport(rawValue: text) else {
                throw ConfigurationError("token transport \(text) is not header or cookie")
            }
            config.tokens.transport = transport
        }
        // The algorithm of new keys is a configuration value: checked here, before any file is
        // opened, so a bad one is a usage error like the others.
        _ = try keyOptions.algorithm(environment: environment)
        try Self.checkTimes(&config, given: given)
        return config
    }

    static func scrypt(_ text: String) throws -> ScryptParameters {
        var values: [String: Int] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let number = Int(pair[1]) else { throw ConfigurationError("password hash \(text) is not like ln=15,r=8,p=3") }
            guard ["ln", "r", "p"].contains(String(pair[0])), values.updateValue(number, forKey: String(pair[0])) == nil else {
                throw ConfigurationError("password hash \(text) names each of ln, r and p once, and nothing else")
            }
        }
        guard let ln = values["ln"], let r = values["r"], let p = values["p"], (1...24).contains(ln), (1...32).contains(r), (1...16).contains(p) else {
            throw ConfigurationError("password hash \(text) needs ln (1-24), r (1-32) and p (1-16)")
        }
        return ScryptParameters(logN: ln, r: r, p: p)
    }

    /// Every flag and environment variable is checked while parsing, so a bad value is a usage
    /// error of `serve` (exit status 64) and nothing has been opened yet.
    func validate() throws {
        do {
            _ = try configuration(environment: ProcessInfo.processInfo.environment)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let config: ServerConfiguration
        do {
            config = try configuration(environment: environment)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        var logger = Logger(label: "cloakroom")
        logger.logLevel = config.logLevel
        let backends: Backends
        do {
            backends = try await Backends.open(config.store, accounts: config.accounts, logger: logger)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        // The key file and its secret are files, not flags: failing to read them is a runtime
        // failure (exit status 1), not a usage error.
        let keys: (ring: TokenKeyRing, url: URL, secret: KeyEncryptionSecret)
        do {
            keys = try await keyOptions.open(
                environment: environment, create: true, maxTokenLifetime: config.tokens.accessLifetime, leeway: config.tokens.leeway, logger: logger)
        } catch let error as ConfigurationError {
            try? await backends.close()
            throw CommandFailure(error.description)
        }
        if config.passwordHash.work < ScryptParameters.owasp.work || config.passwordHash.memoryBytes < 16 * 1024 * 1024 {
            logger.warning(
                "the password hash cost is below OWASP's minimum for scrypt: fine for tests, weak for real accounts",
                metadata: ["password_hash": "\(config.passwordHash)", "recommended": "\(ScryptParameters.owasp)"])
        }
        logger.info("cloakroom starting", metadata: [
            "address": "http://\(config.host):\(config.port)", "store": "\(config.store)",
            "cookie": "\(config.cookie.cookieName)", "idle_timeout_s": "\(Int(config.sessions.idleTimeout))",
            "absolute_lifetime_s": "\(Int(config.sessions.absoluteLifetime))",
            "issuer": "\(config.issuer)", "keys": "\(keys.url.path)", "token_transport": "\(config.tokens.transport.rawValue)",
        ])
        do {
            let app = try CloakroomApplication.make(
                configuration: config, backends: backends, keys: .init(ring: keys.ring, file: keys.url, secret: keys.secret), logger: logger)
            try await app.runService()
        } catch {
            try? await backends.close()
            throw error
        }
        try? await backends.close()
    }
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage accounts.",
        subcommands: [Add.self, List.self, SetPassword.self, Disable.self, Enable.self, Delete.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account; the password is read from stdin (or a prompt).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The username") var name: String
        @Option(help: "scrypt cost, as ln=15,r=8,p=3") var passwordHash: String?

        func run() async throws {
            let password = try PasswordPrompt.read(prompt: "Password for \(name): ")
            try await withServices(storeOptions, passwordHash: passwordHash) { services in
                let account = try await services.signIn.register(username: name, password: password)
                print("created \(account.username) (id \(account.id))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            try await withServices(storeOptions) { services in
                let accounts = try await services.backends.accounts.all()
                print(pad("USERNAME", 24) + pad("ID", 38) + pad("CREATED", 22) + "STATUS")
                for account in accounts {
                    print(pad(account.username, 24) + pad(account.id, 38) + pad(iso(account.createdAt), 22) + (account.disabled ? "disabled" : "active"))
                }
            }
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set a new password (read from stdin or a prompt); ends all the account's sessions and tokens and clears its sign-in lockout.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The username") var name: String
        @Option(help: "scrypt cost, as ln=15,r=8,p=3") var passwordHash: String?

        func run() async throws {
            let password = try PasswordPrompt.read(prompt: "New password for \(name): ")
            try await withServices(storeOptions, passwordHash: passwordHash) { services in
                let account = try await requireAccount(name, services)
                let ended = try await services.resetPassword(account, to: password)
                print("set a new password for \(account.username); ended \(ended) session(s) and every token")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account and end all its sessions.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await withServices(storeOptions) { services in
                let account = try await requireAccount(name, services)
                let ended = try await services.setDisabled(account, true)
                print("disabled \(account.username); ended \(ended) session(s)")
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-enable a disabled account.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await withServices(storeOptions) { services in
                let account = try await requireAccount(name, services)
                _ = try await services.setDisabled(account, false)
                print("enabled \(account.username)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an account and end all its sessions.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await withServices(storeOptions) { services in
                let account = try await requireAccount(name, services)
                let ended = try await services.delete(account)
                print("deleted \(account.username); ended \(ended) session(s)")
            }
        }
    }
}

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inspect and end sessions.", subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List live sessions (all, or one user's).")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Only this user's sessions") var user: String?

        func run() async throws {
            try await withServices(storeOptions) { services in
                var records: [SessionRecord] = []
                var names: [String: String] = [:]
                if let user {
                    let account = try await requireAccount(user, services)
                    records = try await services.sessions.sessions(ofUser: account.id)
                } else {
                    var after: String? = nil
                    while true {
                        let page = try await services.backends.sessions.list(now: services.clock.now(), afterKey: after, limit: 500)
                        records += page.filter { services.sessions.isLive($0, at: services.clock.now()) }
                        guard let last = page.last, page.count == 500 else { break }
                        after = last.key
                    }
                }
                for account in try await services.backends.accounts.all() { names[account.id] = account.username }
                print(pad("ID", 18) + pad("USER", 20) + pad("CREATED", 22) + pad("LAST SEEN", 22) + pad("EXPIRES", 22) + pad("IP", 16) + "USER AGENT")
                for record in records {
                    let who = record.userID.map { names[$0] ?? $0 } ?? "(anonymous)"
                    print(pad(record.handle, 18) + pad(who, 20) + pad(iso(record.createdAt), 22) + pad(iso(record.lastSeen), 22)
                          + pad(iso(services.sessions.expiry(of: record)), 22) + pad(record.ipAddress ?? "-", 16) + (record.userAgent ?? "-"))
                }
                print("\(records.count) session(s)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End one session by its ID (as listed), or every session and token of a user.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "Session ID as shown by `sessions list`") var id: String?
        @Option(help: "End every session of this user and revoke all their access and refresh tokens") var user: String?

        func validate() throws {
            if (id == nil) == (user == nil) { throw ValidationError("give either a session ID or --user NAME") }
        }

        func run() async throws {
            try await withServices(storeOptions) { services in
                if let user {
                    let account = try await requireAccount(user, services)
                    // Tokens too, as `users disable` does: every access token issued until now is
                    // refused (the epoch rises) and every refresh token is deleted.
                    let tokens = try await services.tokens.revokeEverything(forUser: account.id)
                    let count = try await services.sessions.revokeAll(ofUser: account.id)
                    print("ended \(count) session(s) and \(tokens) refresh token(s) of \(account.username)")
                } else if let id {
                    guard let record = try await services.sessions.record(handle: id) else {
                        throw CommandFailure("no live session with ID \(id)")
                    }
                    try await services.backends.sessions.delete(key: record.key)
                    print("ended session \(id)")
                }
            }
        }
    }
}

// MARK: - CLI helpers

/// Opens the stores `options` name, runs `body` on them, and closes them.
///
/// A bad option value (store URL, log level, scrypt cost) is a usage error (`ValidationError`,
/// exit status 64). What `body` throws is a runtime failure: `CloakroomCommand.main()` prints it
/// as `error: …` with exit status 1 (an `IdentityError` by its client-safe message).
func withServices(_ options: StoreOptions, passwordHash: String? = nil, _ body: (AppServices) async throws -> Void) async throws {
    let environment = ProcessInfo.processInfo.environment
    var config = ServerConfiguration()
    var logger: Logger
    let backends: Backends
    do {
        config.store = try options.location(environment: environment)
        config.accounts = try options.accountsLocation(environment: environment)
        logger = try options.logger(environment: environment)
        if options.logLevel == nil && environment["CLOAKROOM_LOG_LEVEL"] == nil { logger.logLevel = .warning }
        if let text = passwordHash ?? environment["CLOAKROOM_PASSWORD_HASH"] { config.passwordHash = try Serve.scrypt(text) }
        backends = try await Backends.open(config.store, accounts: config.accounts, logger: logger)
    } catch let error as ConfigurationError {
        throw ValidationError(error.description)
    }
    let services = AppServices(configuration: config, backends: backends, logger: logger)
    // Backend services (connection pools) run beside the command and stop with it.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in backends.services {
            group.addTask { try await service.run() }
        }
        do {
            try await body(services)
        } catch {
            try? await backends.close()
            group.cancelAll()
            throw error
        }
        try? await backends.close()
        group.cancelAll()
    }
}

/// The account named `name`; a `CommandFailure` (exit status 1) when there is none.
func requireAccount(_ name: String, _ services: AppServices) async throws -> Account {
    guard let account = try await services.backends.accounts.account(username: name) else {
        throw CommandFailure("no account named \(name)")
    }
    return account
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? String(text.prefix(width - 1)) + " " : text + String(repeating: " ", count: width - text.count)
}

func iso(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

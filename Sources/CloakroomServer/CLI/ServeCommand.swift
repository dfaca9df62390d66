import ArgumentParser
import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomOAuth
import CloakroomReplication
import CloakroomSessions
import CloakroomTokens
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

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
    @Option(
        help:
            "Close a connection that completes no request head for this long (idle, or sending its header slowly). Env CLOAKROOM_HEADER_TIMEOUT. Default 30s"
    )
    var headerTimeout: String?
    @Option(
        help:
            "On SIGTERM or SIGINT, answer /healthz with 503 draining for this long before closing the listener, so a load balancer stops sending requests first; requests in flight then finish. Env CLOAKROOM_DRAIN_SECONDS. Default 0s"
    )
    var drainSeconds: String?
    @Option(
        help:
            "all: every node holds every session, copied between nodes; backup: each session has an owner node and one backup node (both need --peer, --cluster-secret-file, --replication-port and a shared --accounts; see docs/replication.md). Env CLOAKROOM_REPLICATION"
    )
    var replication: String?
    @Option(help: "A replication peer HOST:PORT (repeatable). Env CLOAKROOM_PEERS (comma-separated)")
    var peer: [String] = []
    @Option(help: "The cluster secret shared by every node (cloakroom cluster secret FILE writes one). Env CLOAKROOM_CLUSTER_SECRET_FILE")
    var clusterSecretFile: String?
    @Option(help: "The port peers connect to for replication (on --host). Env CLOAKROOM_REPLICATION_PORT")
    var replicationPort: String?
    @Option(help: "This node's name among its peers (unique). Env CLOAKROOM_NODE_NAME. Default HOST:REPLICATION_PORT")
    var nodeName: String?
    @Option(
        help:
            "How long an acknowledged write (sign-in, sign-out, revocation) waits for peers before it goes on without them; each such write counts in cloakroom_replication_unacknowledged_writes_total. Env CLOAKROOM_REPLICATION_ACK_TIMEOUT. Default 1s"
    )
    var replicationAckTimeout: String?
    @Option(help: "Session cookie base name (gets the __Host- prefix with --secure). Env CLOAKROOM_COOKIE_NAME. Default cloakroom")
    var cookieName: String?
    @Flag(help: "HTTPS deployment: Secure cookie with the __Host- prefix, HSTS. Env CLOAKROOM_SECURE=1")
    var secure = false
    @Option(
        name: .customLong("allowed-host"),
        help:
            "A host name clients use for this server (repeatable), beside the issuer's and the allowed origins' hosts; other Host headers get 421 (DNS rebinding). Env CLOAKROOM_ALLOWED_HOSTS (comma-separated)"
    )
    var allowedHost: [String] = []
    @Flag(
        help:
            "Accept plain HTTP on an address other than loopback (cookies without Secure, no HSTS): only behind a proxy that terminates HTTPS on this host's network, or in a lab. Env CLOAKROOM_INSECURE_HTTP=1"
    )
    var insecureHttp = false
    @Flag(help: "With --secure: HSTS with includeSubDomains (every subdomain must serve HTTPS). Env CLOAKROOM_HSTS_INCLUDE_SUBDOMAINS=1")
    var hstsIncludeSubdomains = false
    @Flag(help: "Browser-session cookie (no Max-Age): the cookie ends when the browser closes. Env CLOAKROOM_BROWSER_SESSION_COOKIE=1")
    var browserSessionCookie = false
    @Option(help: "At most this many sessions per user. Env CLOAKROOM_MAX_SESSIONS. Default unlimited")
    var maxSessionsPerUser: Int?
    @Option(help: "Past the limit: evict-oldest or refuse. Env CLOAKROOM_SESSION_OVERFLOW. Default evict-oldest")
    var sessionOverflow: String?
    @Option(
        help:
            "Origin allowed to send state-changing requests (repeatable). Env CLOAKROOM_ALLOWED_ORIGINS (comma-separated). Default: the request's own host"
    )
    var allowedOrigin: [String] = []
    @Option(
        help:
            "Reverse proxy (address or CIDR block, repeatable) whose X-Forwarded-For names the client. Env CLOAKROOM_TRUSTED_PROXIES (comma-separated). Default none"
    )
    var trustedProxy: [String] = []
    @Option(
        help:
            "Client (address or CIDR block, repeatable) allowed to read GET /metrics, or 'any'. Env CLOAKROOM_METRICS_FROM (comma-separated). Default loopback only"
    )
    var metricsFrom: [String] = []
    @Option(
        name: .customLong("throttle-ipv6-prefix"),
        help:
            "Sign-in throttling counts an IPv6 client by its network of this prefix length (32-128): a client can rotate through every address of its /64. Env CLOAKROOM_THROTTLE_IPV6_PREFIX. Default 64"
    )
    var throttleIPv6Prefix: Int?
    @Option(
        help:
            "Passwords refused as common or breached: a list file built like scripts/common-passwords builds the shipped one, or off. Env CLOAKROOM_COMMON_PASSWORD_LIST. Default the shipped list (1.46 million passwords)"
    )
    var commonPasswordList: String?
    @Option(help: "scrypt cost for new password hashes, as ln=15,r=8,p=3. Env CLOAKROOM_PASSWORD_HASH. Default ln=15,r=8,p=3")
    var passwordHash: String?
    @Flag(help: "Refuse new registrations. Env CLOAKROOM_REGISTRATION=closed")
    var closeRegistration = false
    @OptionGroup(title: "Tokens") var keyOptions: KeyFileOptions
    @Option(
        help:
            "OpenID Connect ID-token signing key file, sealed under the same secret as --keys (created on first start). Env CLOAKROOM_ID_TOKEN_KEYS. Default: KEYS with -id-token before .json"
    )
    var idTokenKeys: String?
    @Option(
        help:
            "Algorithm of new ID-token keys: RS256 (what relying parties expect), EdDSA, ES256, PS256. Env CLOAKROOM_ID_TOKEN_ALGORITHM. Default RS256"
    )
    var idTokenAlgorithm: String?
    @Option(
        name: .customLong("provider"),
        help:
            "Another OpenID provider users may sign in with, as NAME=ISSUER_URL,CLIENT_ID,CLIENT_SECRET (repeat for more; register CLIENT_ID there with the redirect URI ISSUER_HERE/login/with/NAME/callback). Env CLOAKROOM_PROVIDERS, entries separated by spaces"
    )
    var providers: [String] = []
    @Option(
        help: "How long \"keep me signed in\" keeps a device signed in, from the sign-in (at most 400d). Env CLOAKROOM_REMEMBER_LIFETIME. Default 30d"
    )
    var rememberLifetime: String?
    @Option(
        help:
            "How soon after a \"keep me signed in\" cookie's use a second use counts as two tabs racing (that request stays signed out) rather than a copied cookie (every session ends); 0s to 60s. Env CLOAKROOM_REMEMBER_RACE_WINDOW. Default 10s"
    )
    var rememberRaceWindow: String?
    @Option(
        name: .customLong("admin"),
        help: "A username that may manage OAuth clients at /admin/clients (repeat for more). Env CLOAKROOM_ADMINS, separated by spaces"
    )
    var admins: [String] = []
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
    @Option(
        help:
            "How browsers carry tokens: header (Authorization: Bearer) or cookie (HttpOnly cookies, CSRF-checked). Env CLOAKROOM_TOKEN_TRANSPORT. Default header"
    )
    var tokenTransport: String?

    func configuration(environment: [String: String]) throws -> ServerConfiguration {
        let reader = SettingReader(environment: environment)
        var draft = ServeDraft()
        try reader.apply(Self.settings, of: self, to: &draft)
        var config = draft.config
        // Registration reads its variable even when the flag is given (a misspelt value is refused).
        config.registrationOpen = try Self.registrationOpen(environment) && !closeRegistration
        // The algorithm of new keys is a configuration value: checked here, before any file is
        // opened, so a bad one is a usage error like the others.
        _ = try keyOptions.algorithm(environment: environment)
        _ = try idTokenSigningAlgorithm(environment: environment)
        try Self.checkTimes(&config, given: draft.given)
        try checkReplication(&config, draft.replication, environment: environment)
        if config.store == .cookie, let limit = config.sessions.maxSessionsPerUser {
            throw ConfigurationError(
                "--max-sessions-per-user \(limit) needs sessions the server can count: with --store cookie they live in the browsers' cookies"
            )
        }
        config.admins = Set(
            (admins.isEmpty ? (environment["CLOAKROOM_ADMINS"] ?? "").split(separator: " ").map(String.init) : admins)
                .map { Account.normalize($0) }.filter { !$0.isEmpty }
        )
        config.providers = try Self.providers(
            providers.isEmpty ? (environment["CLOAKROOM_PROVIDERS"] ?? "").split(separator: " ").map(String.init) : providers
        )
        try Self.checkTransport(config)
        if config.commonPasswords == nil, !config.commonPasswordsOff {
            throw ConfigurationError(
                "the common-password list shipped with Cloakroom was not found (\(CommonPasswordList.missingReason)): give --common-password-list FILE, or off"
            )
        }
        return config
    }

    /// With `--replication`: the secret file, the port and shared accounts are required, and the
    /// sessions live in each node's memory (a `--store` other than memory is refused). Without it,
    /// the replication settings are refused rather than ignored.
    func checkReplication(_ config: inout ServerConfiguration, _ settings: ReplicationSettings, environment: [String: String]) throws {
        guard config.replication != nil else {
            if !settings.peers.isEmpty || settings.secretFile != nil || settings.port != nil || settings.nodeName != nil
                || settings.ackTimeout != nil
            {
                throw ConfigurationError(
                    "--peer, --cluster-secret-file, --replication-port, --node-name and --replication-ack-timeout need --replication all or backup"
                )
            }
            return
        }
        guard settings.secretFile != nil else {
            throw ConfigurationError("--replication needs --cluster-secret-file (cloakroom cluster secret FILE writes one)")
        }
        guard settings.port != nil else { throw ConfigurationError("--replication needs --replication-port") }
        guard let accounts = config.accounts, accounts != .memory else {
            throw ConfigurationError("--replication needs --accounts shared by every node (sqlite:PATH on one host, or postgres://…)")
        }
        _ = accounts
        if let store = storeOptions.store ?? environment["CLOAKROOM_STORE"], store != "memory" {
            throw ConfigurationError(
                "with --replication every node keeps sessions in its own memory: --store \(StoreLocation.redacted(store)) is for a central store"
            )
        }
        config.replication = settings
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
        guard let ln = values["ln"], let r = values["r"], let p = values["p"], (1...24).contains(ln), (1...32).contains(r), (1...16).contains(p)
        else {
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

    /// The replicated store, its mesh listening and dialling (the secret file is read here: a
    /// problem with it is a runtime failure).
    static func replicatedStore(_ settings: ReplicationSettings, host: String, logger: Logger) async throws -> any SessionReplica {
        let secret: ClusterSecret
        do {
            secret = try ClusterSecret.load(file: URL(fileURLWithPath: settings.secretFile ?? ""))
        } catch {
            throw CommandFailure("\(error)")
        }
        let port = settings.port ?? 0
        var configuration = PeerMesh.Configuration(
            identity: PeerIdentity(nodeID: settings.nodeName ?? "\(host):\(port)"),
            secret: secret,
            host: host,
            port: port,
            peers: settings.peers
        )
        if let seconds = settings.ackTimeout { configuration.ackTimeout = .seconds(seconds) }
        let mesh = PeerMesh(configuration: configuration, logger: logger)
        let store: any SessionReplica =
            switch settings.mode {
            case .all: ReplicatedSessionStore(local: MemorySessionStore(), mesh: mesh, logger: logger)
            case .backup: BackupSessionStore(local: MemorySessionStore(), mesh: mesh, logger: logger)
            }
        do {
            try await store.startMesh()
        } catch {
            throw CommandFailure("cannot listen for replication on \(host):\(port): \(error)")
        }
        return store
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let config: ServerConfiguration
        do {
            config = try configuration(environment: environment)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        var logger = Logger.cloakroom()
        logger.logLevel = config.logLevel
        var backends: Backends
        var replicated: (any SessionReplica)?
        do {
            if let replication = config.replication, let accounts = config.accounts {
                // Sessions in each node's memory, copied between nodes; token state and throttle
                // counters with the accounts every node shares.
                backends = try await Backends.open(accounts, accounts: accounts, logger: logger)
                let store = try await Self.replicatedStore(replication, host: config.host, logger: logger)
                backends = backends.replacingSessions(store)
                backends.storeKind = replication.mode == .all ? "replicated" : "backup"
                replicated = store
            } else {
                backends = try await Backends.open(config.store, accounts: config.accounts, logger: logger)
            }
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        // The key file and its secret are files, not flags: failing to read them is a runtime
        // failure (exit status 1), not a usage error.
        let keys: (ring: TokenKeyRing, url: URL, secret: KeyEncryptionSecret)
        do {
            keys = try await keyOptions.open(
                environment: environment,
                create: true,
                maxTokenLifetime: config.tokens.accessLifetime,
                leeway: config.tokens.leeway,
                logger: logger
            )
        } catch let error as ConfigurationError {
            try? await backends.close()
            throw CommandFailure(error.description)
        }
        let sealing: (ring: SealingKeyRing, file: URL?)
        do {
            sealing = try keyOptions.sealingRing(environment: environment, secret: keys.secret, create: true)
        } catch let error as ConfigurationError {
            try? await backends.close()
            throw CommandFailure(error.description)
        }
        let idTokenFile = idTokenKeysURL(keys: keys.url, environment: environment)
        let idTokenRing: TokenKeyRing
        do {
            idTokenRing = try await TokenKeyRing.loadOrCreate(
                at: idTokenFile,
                secret: keys.secret,
                configuration: .init(
                    algorithm: try idTokenSigningAlgorithm(environment: environment),
                    maxTokenLifetime: max(config.tokens.accessLifetime, 300),
                    leeway: config.tokens.leeway
                ),
                logger: logger
            )
        } catch let error as TokenKeyError {
            try? await backends.close()
            throw CommandFailure("ID-token key file \(idTokenFile.path): \(error.message)")
        }
        if config.passwordHash.work < ScryptParameters.owasp.work || config.passwordHash.memoryBytes < 16 * 1024 * 1024 {
            logger.warning(
                "the password hash cost is below OWASP's minimum for scrypt: fine for tests, weak for real accounts",
                metadata: ["password_hash": "\(config.passwordHash)", "recommended": "\(ScryptParameters.owasp)"]
            )
        }
        logger.info(
            "cloakroom starting",
            metadata: [
                "address": "http://\(config.host):\(config.port)", "store": "\(config.store)",
                "cookie": "\(config.cookie.cookieName)", "idle_timeout_s": "\(Int(config.sessions.idleTimeout))",
                "absolute_lifetime_s": "\(Int(config.sessions.absoluteLifetime))",
                "issuer": "\(config.issuer)", "keys": "\(keys.url.path)", "token_transport": "\(config.tokens.transport.rawValue)",
            ]
        )
        if let replicated {
            // Catching up runs beside the server: /healthz answers 503 until it is done.
            Task { try? await replicated.catchUp() }
        }
        defer { if let replicated { Task { await replicated.stop() } } }
        do {
            let drain = DrainState()
            let app = try CloakroomApplication.make(
                configuration: config,
                backends: backends,
                keys: .init(
                    ring: keys.ring,
                    file: keys.url,
                    secret: keys.secret,
                    idTokenRing: idTokenRing,
                    idTokenFile: idTokenFile,
                    // Replaceable: the sealing key file is reloaded when it changes.
                    sealing: sealing.file == nil ? sealing.ring : .replaceable(sealing.ring),
                    sealingFile: sealing.file
                ),
                drain: drain,
                logger: logger
            )
            // Shut down in reverse order: first drain (health check fails), then the server.
            let group = ServiceGroup(
                configuration: .init(
                    services: [app, DrainOnShutdown(state: drain, delay: .milliseconds(Int64(config.drainSeconds * 1000)))],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        } catch {
            try? await backends.close()
            throw error
        }
        try? await backends.close()
    }

    /// The ID-token key file: `--id-token-keys`, else the access-token key file's name with
    /// `-id-token` before its extension.
    func idTokenKeysURL(keys: URL, environment: [String: String]) -> URL {
        if let path = SettingReader(environment: environment).text(flag: idTokenKeys, variable: "CLOAKROOM_ID_TOKEN_KEYS") {
            return URL(fileURLWithPath: path)
        }
        let base = keys.deletingPathExtension()
        return base.deletingLastPathComponent().appendingPathComponent(base.lastPathComponent + "-id-token.json")
    }

    /// The algorithm of new ID-token keys (asymmetric only: relying parties verify them through the JWK Set).
    func idTokenSigningAlgorithm(environment: [String: String]) throws -> TokenAlgorithm {
        let text = SettingReader(environment: environment).text(flag: idTokenAlgorithm, variable: "CLOAKROOM_ID_TOKEN_ALGORITHM") ?? "RS256"
        let choices = TokenAlgorithm.signingAlgorithms.filter { $0.keyType != .oct }.map(\.rawValue)
        guard let algorithm = TokenAlgorithm.named(text), choices.contains(algorithm.rawValue) else {
            throw ConfigurationError("ID-token algorithm \(text) is not one of \(choices.joined(separator: ", "))")
        }
        return algorithm
    }

    /// Parses `--provider NAME=ISSUER,CLIENT_ID,SECRET` entries.
    static func providers(_ entries: [String]) throws -> [OpenIDRelyingParty.Provider] {
        var seen: Set<String> = []
        return try entries.filter { !$0.isEmpty }.map { entry in
            guard let equals = entry.firstIndex(of: "=") else {
                throw ConfigurationError("--provider \(entry.prefix(40)): expected NAME=ISSUER_URL,CLIENT_ID,CLIENT_SECRET")
            }
            let name = String(entry[..<equals])
            let parts = entry[entry.index(after: equals)...].split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard (1...32).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw ConfigurationError("--provider: a provider name is 1 to 32 letters, digits, - or _")
            }
            guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else {
                throw ConfigurationError("--provider \(name): expected NAME=ISSUER_URL,CLIENT_ID,CLIENT_SECRET")
            }
            guard let url = URLComponents(string: parts[0]), ["https", "http"].contains(url.scheme ?? ""), url.host?.isEmpty == false,
                url.query == nil, url.fragment == nil
            else {
                throw ConfigurationError("--provider \(name): the issuer must be an http(s) URL without query or fragment")
            }
            guard seen.insert(name).inserted else { throw ConfigurationError("--provider \(name) is given twice") }
            return OpenIDRelyingParty.Provider(name: name, issuer: parts[0], clientID: parts[1], clientSecret: parts[2])
        }
    }
}

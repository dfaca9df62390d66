import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomReplication
import CloakroomSessions
import Foundation

extension Serve {
    /// Every `serve` setting, in the order they are read (the first bad one is reported): the flag,
    /// else its environment variable, else the default in `ServerConfiguration`. The flags and their
    /// help are declared on `Serve`; docs/configuration.md lists them all.
    static let settings: [Setting<Serve>] = [
        Setting("CLOAKROOM_HOST", flag: \.host) { text, draft in draft.config.host = text },
        Setting("CLOAKROOM_PORT", flag: { $0.port.map(String.init) }) { text, draft in
            guard let value = Int(text), (0...65535).contains(value) else { throw ConfigurationError("port \(text) is not a number from 0 to 65535") }
            draft.config.port = value
        },
        Setting(
            "CLOAKROOM_STORE",
            flag: \.storeOptions.store,
            always: { text, draft in
                draft.config.store = try StoreLocation.configured(text ?? StoreOptions.defaultStore)
            }
        ),
        Setting("CLOAKROOM_ACCOUNTS", flag: \.storeOptions.accounts) { text, draft in
            draft.config.accounts = try StoreLocation.configured(text)
        },
        Setting(
            "CLOAKROOM_LOG_LEVEL",
            flag: \.storeOptions.logLevel,
            always: { text, draft in
                draft.config.logLevel = try StoreOptions.level(text ?? "info")
            }
        ),
        Setting("CLOAKROOM_IDLE_TIMEOUT", flag: \.idleTimeout) { text, draft in
            draft.config.sessions.idleTimeout = try SettingReader.duration(text, "idle timeout")
            draft.given.idleTimeout = true
        },
        Setting("CLOAKROOM_ABSOLUTE_LIFETIME", flag: \.absoluteLifetime) { text, draft in
            draft.config.sessions.absoluteLifetime = try SettingReader.duration(text, "absolute lifetime")
            draft.given.absoluteLifetime = true
        },
        Setting("CLOAKROOM_TOUCH_INTERVAL", flag: \.touchInterval) { text, draft in
            draft.config.sessions.touchInterval = try SettingReader.duration(text, "touch interval")
            draft.given.touchInterval = true
        },
        Setting("CLOAKROOM_HEADER_TIMEOUT", flag: \.headerTimeout) { text, draft in
            draft.config.headerTimeout = try SettingReader.duration(text, "header timeout")
        },
        Setting("CLOAKROOM_DRAIN_SECONDS", flag: \.drainSeconds) { text, draft in
            draft.config.drainSeconds = try SettingReader.duration(text, "drain time", allowZero: true)
        },
        Setting("CLOAKROOM_REPLICATION", flag: \.replication) { text, draft in
            guard let mode = ReplicationSettings.Mode(rawValue: text) else {
                throw ConfigurationError("replication \(text) is not all or backup")
            }
            draft.config.replication = draft.config.replication ?? ReplicationSettings()
            draft.replication.mode = mode
        },
        Setting("CLOAKROOM_PEERS", flag: { $0.peer.isEmpty ? nil : $0.peer.joined(separator: ",") }) { text, draft in
            draft.replication.peers = try text.split(separator: ",").map { item in
                let trimmed = item.trimmingCharacters(in: .whitespaces)
                guard let colon = trimmed.lastIndex(of: ":"), let port = Int(trimmed[trimmed.index(after: colon)...]), (1...65535).contains(port),
                    colon > trimmed.startIndex
                else { throw ConfigurationError("peer \(trimmed) is not HOST:PORT") }
                return PeerMesh.Address(host: String(trimmed[..<colon]), port: port)
            }
        },
        Setting("CLOAKROOM_CLUSTER_SECRET_FILE", flag: \.clusterSecretFile) { text, draft in draft.replication.secretFile = text },
        Setting("CLOAKROOM_REPLICATION_PORT", flag: \.replicationPort) { text, draft in
            guard let value = Int(text), (1...65535).contains(value) else {
                throw ConfigurationError("replication port \(text) is not a number from 1 to 65535")
            }
            draft.replication.port = value
        },
        Setting("CLOAKROOM_NODE_NAME", flag: \.nodeName) { text, draft in
            guard !text.isEmpty, text.utf8.count <= 255 else { throw ConfigurationError("node name must be 1 to 255 bytes") }
            draft.replication.nodeName = text
        },
        Setting("CLOAKROOM_REPLICATION_ACK_TIMEOUT", flag: \.replicationAckTimeout) { text, draft in
            let seconds = try SettingReader.duration(text, "replication ack timeout")
            guard seconds <= 60 else { throw ConfigurationError("replication ack timeout \(text) is over 60s") }
            draft.replication.ackTimeout = seconds
        },
        Setting(
            "CLOAKROOM_COOKIE_NAME",
            flag: \.cookieName,
            always: { text, draft in
                let name = text ?? "cloakroom"
                guard (try? Cookie(name: name, value: "x").validate()) != nil, !name.isEmpty else {
                    throw ConfigurationError("cookie name \(name) is not a valid cookie name")
                }
                draft.config.cookie.baseName = name
            }
        ),
        Setting(
            "CLOAKROOM_SECURE",
            precedence: .flagOrVariable,
            flag: { $0.secure ? "1" : nil },
            always: { text, draft in
                draft.config.cookie.secure = text == "1"
            }
        ),
        Setting(
            "CLOAKROOM_INSECURE_HTTP",
            precedence: .flagOrVariable,
            flag: { $0.insecureHttp ? "1" : nil },
            always: { text, draft in
                draft.config.insecureHTTP = text == "1"
            }
        ),
        Setting(
            "CLOAKROOM_HSTS_INCLUDE_SUBDOMAINS",
            precedence: .flagOrVariable,
            flag: { $0.hstsIncludeSubdomains ? "1" : nil },
            always: { text, draft in
                draft.config.hstsIncludeSubdomains = text == "1"
            }
        ),
        Setting(
            "CLOAKROOM_BROWSER_SESSION_COOKIE",
            precedence: .flagOrVariable,
            flag: { $0.browserSessionCookie ? "1" : nil },
            always: { text, draft in
                draft.config.sessions.persistentCookie = text != "1"
            }
        ),
        Setting("CLOAKROOM_MAX_SESSIONS", flag: { $0.maxSessionsPerUser.map(String.init) }) { text, draft in
            guard let value = Int(text), value > 0 else { throw ConfigurationError("max sessions per user \(text) must be a positive number") }
            draft.config.sessions.maxSessionsPerUser = value
        },
        Setting("CLOAKROOM_SESSION_OVERFLOW", flag: \.sessionOverflow) { text, draft in
            guard let policy = SessionConfiguration.OverflowPolicy(rawValue: text) else {
                throw ConfigurationError("session overflow \(text) is not evict-oldest or refuse")
            }
            draft.config.sessions.overflowPolicy = policy
        },
        Setting("CLOAKROOM_ALLOWED_ORIGINS", flag: { $0.allowedOrigin.isEmpty ? nil : $0.allowedOrigin.joined(separator: ",") }) { text, draft in
            draft.config.allowedOrigins = try SettingReader.items(text).map(Serve.origin)
        },
        Setting("CLOAKROOM_TRUSTED_PROXIES", flag: { $0.trustedProxy.isEmpty ? nil : $0.trustedProxy.joined(separator: ",") }) { text, draft in
            draft.config.trustedProxies = try SettingReader.items(text).map { item in
                guard let range = IPAddressRange(item) else {
                    throw ConfigurationError(
                        "trusted proxy \(item) is not an IP address or CIDR block written by its network address (e.g. 10.0.0.0/8, ::1)"
                    )
                }
                return range
            }
        },
        Setting("CLOAKROOM_METRICS_FROM", flag: { $0.metricsFrom.isEmpty ? nil : $0.metricsFrom.joined(separator: ",") }) { text, draft in
            draft.config.metricsFrom = try SettingReader.items(text).flatMap { item -> [IPAddressRange] in
                if item == "any" { return ["0.0.0.0/0", "::/0"].compactMap(IPAddressRange.init) }
                guard let range = IPAddressRange(item) else {
                    throw ConfigurationError("metrics client \(item) is not an IP address, a CIDR block (e.g. 10.0.0.0/8) or any")
                }
                return [range]
            }
        },
        Setting("CLOAKROOM_THROTTLE_IPV6_PREFIX", flag: { $0.throttleIPv6Prefix.map(String.init) }) { text, draft in
            guard let value = Int(text), (32...128).contains(value) else {
                throw ConfigurationError("throttle IPv6 prefix \(text) must be a prefix length from 32 to 128")
            }
            draft.config.throttleIPv6Prefix = value
        },
        Setting("CLOAKROOM_ALLOWED_HOSTS", flag: { $0.allowedHost.isEmpty ? nil : $0.allowedHost.joined(separator: ",") }) { text, draft in
            draft.config.allowedHosts = try SettingReader.items(text).map { item in
                let host = IPAddressRange.hostname(ofAuthority: item)
                guard !host.isEmpty, !host.contains("/"), !host.contains("@"), !host.contains(" ") else {
                    throw ConfigurationError("allowed host \(item) is not a host name (e.g. auth.example.com)")
                }
                return host
            }
        },
        Setting("CLOAKROOM_COMMON_PASSWORD_LIST", flag: \.commonPasswordList) { text, draft in
            if text.trimmingCharacters(in: .whitespaces).lowercased() == "off" {
                draft.config.commonPasswords = nil
                draft.config.commonPasswordsOff = true
                return
            }
            do {
                draft.config.commonPasswords = try CommonPasswordList(contentsOf: URL(fileURLWithPath: text))
            } catch {
                throw ConfigurationError("common-password list: \(error)")
            }
        },
        Setting("CLOAKROOM_PASSWORD_HASH", flag: \.passwordHash) { text, draft in
            draft.config.passwordHash = try Serve.scrypt(text)
        },
        Setting("CLOAKROOM_ISSUER", flag: \.issuer) { text, draft in
            draft.config.tokens.issuer = try Serve.issuer(text)
        },
        Setting("CLOAKROOM_TOKEN_AUDIENCE", flag: \.tokenAudience) { text, draft in
            draft.config.tokens.audience = text
        },
        Setting("CLOAKROOM_REMEMBER_LIFETIME", flag: \.rememberLifetime) { text, draft in
            let value = try SettingReader.duration(text, "remember lifetime")
            // RFC 6265bis §5.6: browsers cap a cookie's lifetime at 400 days.
            guard value > 0, value <= 400 * 86_400 else { throw ConfigurationError("remember lifetime must be between 1s and 400d") }
            draft.config.rememberLifetime = value
        },
        Setting("CLOAKROOM_REMEMBER_RACE_WINDOW", flag: \.rememberRaceWindow) { text, draft in
            let value = try SettingReader.duration(text, "remember race window", allowZero: true)
            guard value >= 0, value <= 60 else { throw ConfigurationError("remember race window must be between 0s and 60s") }
            draft.config.rememberRaceWindow = value
        },
        Setting("CLOAKROOM_ACCESS_TOKEN_LIFETIME", flag: \.accessTokenLifetime) { text, draft in
            let value = try SettingReader.duration(text, "access token lifetime")
            guard value <= 86_400 else {
                throw ConfigurationError("access token lifetime must be at most 24h: a long-lived token cannot be revoked cheaply")
            }
            draft.config.tokens.accessLifetime = value
        },
        Setting("CLOAKROOM_REFRESH_TOKEN_IDLE", flag: \.refreshTokenIdle) { text, draft in
            draft.config.tokens.refreshIdleLifetime = try SettingReader.duration(text, "refresh token idle lifetime")
            draft.given.refreshIdle = true
        },
        Setting("CLOAKROOM_REFRESH_TOKEN_LIFETIME", flag: \.refreshTokenLifetime) { text, draft in
            draft.config.tokens.refreshAbsoluteLifetime = try SettingReader.duration(text, "refresh token lifetime")
            draft.given.refreshLifetime = true
        },
        Setting("CLOAKROOM_TOKEN_LEEWAY", flag: \.tokenLeeway) { text, draft in
            guard let seconds = DurationText.seconds(text), seconds >= 0, seconds <= 300 else {
                throw ConfigurationError("token leeway \(text) must be a duration from 0s to 5m")
            }
            draft.config.tokens.leeway = TimeInterval(seconds)
        },
        Setting("CLOAKROOM_TOKEN_TRANSPORT", flag: \.tokenTransport) { text, draft in
            guard let transport = TokenSettings.Transport(rawValue: text) else {
                throw ConfigurationError("token transport \(text) is not header or cookie")
            }
            draft.config.tokens.transport = transport
        },
    ]
}

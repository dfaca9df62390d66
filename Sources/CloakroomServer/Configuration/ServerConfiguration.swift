import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomOAuth
import CloakroomReplication
import CloakroomSessions
import Foundation
import Logging

/// Everything `cloakroom serve` can be told, as one value. Built from flags, then environment
/// variables, then defaults (in that order of precedence) by `ServeOptions.configuration()`.
struct ServerConfiguration: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    var store = StoreLocation.sqlite(path: "./cloakroom.sqlite")
    var accounts: StoreLocation? = nil
    var sessions = SessionConfiguration()
    var cookie = SessionCookieSettings()
    var logLevel = Logger.Level.info
    var allowedOrigins: [String] = []
    /// A connection that completes no request head for this long is closed (idle keep-alive
    /// connections, and clients that send their header slowly).
    var headerTimeout: TimeInterval = 30
    /// On SIGTERM, how long `/healthz` answers 503 `draining` before the server stops accepting
    /// connections (it then finishes the requests in flight). 0: stop at once.
    var drainSeconds: TimeInterval = 0
    /// Reverse proxies whose `X-Forwarded-For` names the client (none by default).
    var trustedProxies: [IPAddressRange] = []
    /// Clients allowed to read `GET /metrics` (by default loopback only: a scraper on the node's host).
    var metricsFrom: [IPAddressRange] = ["127.0.0.0/8", "::1"].compactMap(IPAddressRange.init)
    var passwordHash = ScryptParameters.owasp
    /// Passwords refused at registration and password changes (the shipped list by default).
    var commonPasswords: CommonPasswordList? = CommonPasswordList.shipped
    /// The list was turned off explicitly (`--common-password-list off`).
    var commonPasswordsOff = false
    /// Sign-in throttling counts an IPv6 client by this network prefix (an IPv4 client by its address).
    var throttleIPv6Prefix = 64
    /// Plain HTTP on an address other than loopback, accepted explicitly (`--insecure-http`).
    var insecureHTTP = false
    /// More host names the server answers for (`--allowed-host`), beside the issuer's and the
    /// allowed origins' hosts and loopback names.
    var allowedHosts: [String] = []
    /// HSTS covers subdomains too (`--hsts-include-subdomains`, with `--secure`).
    var hstsIncludeSubdomains = false
    var sweepInterval: Duration = .seconds(60)
    var registrationOpen = true
    /// Other OpenID providers users may sign in with (`--provider NAME=ISSUER,CLIENT_ID,SECRET`).
    var providers: [OpenIDRelyingParty.Provider] = []
    /// How long "keep me signed in" keeps a device signed in, from the ticked sign-in.
    var rememberLifetime: TimeInterval = 30 * 86_400
    /// How soon after a remember token's use a second use is a race (two tabs), not theft.
    var rememberRaceWindow: TimeInterval = 10
    /// Usernames (any case) of the accounts that may manage OAuth clients at /admin/clients.
    var admins: Set<String> = []
    var tokens = TokenSettings()
    /// Sessions replicated between nodes (`--replication all`); nil: one store URL.
    var replication: ReplicationSettings?
}

/// Token sign-in settings (`serve --issuer … --access-token-lifetime …`).
struct TokenSettings: Sendable {
    enum Transport: String, Sendable { case header, cookie }
    /// `iss`; nil means the server's own URL (http://HOST:PORT, https with --secure).
    var issuer: String?
    /// `aud` of issued tokens and the audience required; nil means the issuer.
    var audience: String?
    var accessLifetime: TimeInterval = 600
    var refreshIdleLifetime: TimeInterval = 14 * 86_400
    var refreshAbsoluteLifetime: TimeInterval = 30 * 86_400
    var leeway: TimeInterval = 30
    var transport = Transport.header
    /// How often the key file is checked for changes (rotation by `cloakroom keys`): a `stat`
    /// each time, so often enough that every server holds a new key seconds after it is added
    /// (within the key ring's `keyFilePickup`, 30 s).
    var keyReloadInterval: Duration = .seconds(1)
}

extension ServerConfiguration {
    /// The issuer tokens carry.
    var issuer: String {
        if let issuer = tokens.issuer { return issuer }
        let scheme = cookie.secure ? "https" : "http"
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(scheme)://\(host):\(port)"
    }

    /// The host names requests may name in `Host` (loopback names are always allowed): the
    /// issuer's, the allowed origins', and `--allowed-host`.
    var hostsServed: [String] {
        let origins = allowedOrigins.map { String($0.drop { $0 != "/" }.dropFirst(2)) }
        let issuerHost = URL(string: issuer)?.host.map { [$0] } ?? []
        return issuerHost + origins + allowedHosts
    }

    /// The audience tokens are for.
    var audience: String { tokens.audience ?? issuer }
}

/// `--replication all --peer HOST:PORT… --cluster-secret-file F --replication-port P [--node-name N]`.
struct ReplicationSettings: Sendable {
    /// `all`: every node holds every session; `backup`: an owner and one backup per session.
    enum Mode: String, Sendable { case all, backup }
    var mode: Mode = .all
    var peers: [PeerMesh.Address] = []
    var secretFile: String?
    var port: Int?
    var nodeName: String?
    /// How long acknowledged writes wait for peers (seconds); nil: the mesh's default, 1 s.
    var ackTimeout: TimeInterval?
}

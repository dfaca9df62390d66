import CloakroomCore
import Foundation
import NIOSSL

/// Where and how to reach Redis, and how the Redis stores lay out their keys.
///
/// Only standalone Redis (or a primary behind a fixed address) is supported, over TCP or TLS
/// (`rediss://`): the stores' Lua scripts touch keys they compute, which Redis Cluster forbids.
/// `description` never shows the password.
public struct RedisConfiguration: Sendable, CustomStringConvertible {
    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int
    /// ACL user name for `AUTH user password`; nil sends `AUTH password` (the `default` user).
    public var username: String?
    /// Password for `AUTH`; nil sends no `AUTH`.
    public var password: String?
    /// Database number for `SELECT` (0 sends none).
    public var database: Int
    /// Prepended to every key the stores write, so several apps or environments can share a server.
    public var keyPrefix: String
    /// Most connections open at once. Each connection pipelines, so a few serve many requests.
    public var poolSize: Int
    /// Most requests in flight on one connection. When every connection is this busy, requests
    /// wait (at most `commandTimeout`) for a place instead of queueing without bound.
    public var pipelineDepth: Int
    /// Longest wait for one reply; on timeout the connection is closed and the call fails
    /// with `StoreError.unavailable`.
    public var commandTimeout: Duration
    /// Longest wait for a TCP connection.
    public var connectTimeout: Duration
    /// Longest pause between reconnection attempts after failures (backoff doubles up to it).
    public var maxReconnectDelay: Duration
    /// Minimum server-side lifetime given to a session key when it is written or touched.
    ///
    /// Expiry is decided by the `now` callers pass; the server-side TTL (`PEXPIREAT expiresAt`) only
    /// reclaims memory. A record written with an `expiresAt` already past on the Redis clock (clock
    /// skew, or tests with a fixed clock) still lives this long, so the TTL never removes a record
    /// before callers consider it expired. Loads filter on `expiresAt > now` either way.
    public var expiryGrace: Duration
    /// Longest bulk string accepted in a reply (default 8 MiB): a server that announces a longer
    /// one is refused at once and its connection closed, before anything is buffered.
    public var maxReplyBulkBytes = 8 * 1024 * 1024
    /// Most elements accepted in one reply array (default 1,000,000).
    public var maxReplyArrayCount = 1_000_000
    /// TLS to the server (`rediss://`); nil is plain TCP.
    public var tls: TLS?
    /// When set, `host` and `port` are not used: every new connection asks these Sentinels for the
    /// primary of the service (`SENTINEL get-master-addr-by-name`) and confirms it with `ROLE`.
    public var sentinel: Sentinel?
    /// After a session is created or ended (sign-in, sign-out), wait until this many replicas have
    /// the write (`WAIT`), so a failover right after it cannot lose it; 0 (the default) does not
    /// wait: replication is asynchronous, and a write acknowledged just before the primary dies
    /// can be missing on the replica that takes over. URL: `?wait=N`.
    public var replicaAcknowledgements = 0
    /// How long `replicaAcknowledgements` may take before the write is reported failed.
    public var replicaTimeout: Duration = .milliseconds(500)
    /// When set, a Redis Cluster: these seed nodes are asked for the slot map (`CLUSTER SHARDS`,
    /// else `CLUSTER SLOTS`) and every command goes to the primary of its key's slot.
    public var clusterSeeds: [Sentinel.Address]?

    /// Redis Sentinel: where the Sentinels listen and the name of the service they watch.
    public struct Sentinel: Sendable, Equatable {
        /// Sentinel addresses, asked in order until one names a primary.
        public var addresses: [Address]
        /// The monitored service (`sentinel monitor NAME …`).
        public var service: String

        /// A host and port.
        public struct Address: Sendable, Equatable {
            public var host: String
            public var port: Int
            public init(host: String, port: Int) {
                self.host = host
                self.port = port
            }
        }

        public init(addresses: [Address], service: String) {
            self.addresses = addresses
            self.service = service
        }
    }

    /// TLS settings: the server's certificate is always verified, against the system's trusted
    /// roots or, for a private CA, against `caFile` only; its name (or, for an address, its IP
    /// address) must match the host connected to.
    public struct TLS: Sendable {
        /// PEM file of the certificate authorities to trust instead of the system's (`?ca=`).
        public let caFile: String?
        /// What each connection's TLS context is built from. The context itself is built when a
        /// connection opens (loading the system's roots takes milliseconds, too much for a parse).
        let configuration: TLSConfiguration

        /// Checks the CA file; throws `ParseError` when it cannot be read or holds no certificate.
        public init(caFile: String? = nil) throws {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            configuration.minimumTLSVersion = .tlsv12
            if let caFile {
                let certificates: [NIOSSLCertificate]
                do {
                    certificates = try NIOSSLCertificate.fromPEMFile(caFile)
                } catch {
                    throw ParseError("cannot read the CA certificates in \(caFile)")
                }
                guard !certificates.isEmpty else { throw ParseError("no certificate in \(caFile)") }
                configuration.trustRoots = .certificates(certificates)
            }
            self.configuration = configuration
            self.caFile = caFile
        }
    }

    /// Creates a configuration; the defaults reach `redis://127.0.0.1:6379/0`.
    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        keyPrefix: String = "cloakroom:",
        poolSize: Int = 8,
        pipelineDepth: Int = 128,
        commandTimeout: Duration = .seconds(2),
        connectTimeout: Duration = .seconds(2),
        maxReconnectDelay: Duration = .seconds(1),
        expiryGrace: Duration = .seconds(60)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.keyPrefix = keyPrefix
        self.poolSize = poolSize
        self.pipelineDepth = pipelineDepth
        self.commandTimeout = commandTimeout
        self.connectTimeout = connectTimeout
        self.maxReconnectDelay = maxReconnectDelay
        self.expiryGrace = expiryGrace
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`, e.g. `redis://:secret@cache:6379/2`,
    /// or `rediss://…` for TLS, optionally with `?ca=/path/ca.pem` to trust a private CA instead of
    /// the system's roots (certificates are always verified).
    ///
    /// User and password may be percent-encoded. The port defaults to 6379, the database to 0.
    /// Other settings keep their defaults.
    public init(url: String) throws {
        self.init()
        if url.lowercased().hasPrefix("redis-sentinel://") {
            try self.init(sentinelURL: url)
            return
        }
        if url.lowercased().hasPrefix("redis-cluster://") {
            try self.init(clusterURL: url)
            return
        }
        guard let components = URLComponents(string: url) else { throw ParseError("not a URL") }
        let secure: Bool
        switch components.scheme?.lowercased() {
        case "redis": secure = false
        case "rediss": secure = true
        default: throw ParseError("the scheme must be redis:// or rediss://")
        }
        guard let host = components.host, !host.isEmpty else { throw ParseError("no host") }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        // The port's text, not `components.port`: a number too large for Int reads as no port.
        // The range is in `components.string`, which may differ from `url` (URLComponents
        // percent-encodes what the URL left raw): indexing `url` with it could fall outside it.
        if let range = components.rangeOfPort, let string = components.string {
            guard let port = Int(string[range]), (1...65535).contains(port) else { throw ParseError("port out of range (1 to 65535)") }
            self.port = port
        }
        if let user = components.percentEncodedUser, !user.isEmpty {
            guard let decoded = user.removingPercentEncoding else { throw ParseError("bad user encoding") }
            self.username = decoded
        }
        if let password = components.percentEncodedPassword {
            guard let decoded = password.removingPercentEncoding else { throw ParseError("bad password encoding") }
            self.password = decoded
        }
        if username != nil && password == nil { throw ParseError("a user needs a password") }
        let path = components.path
        if !path.isEmpty && path != "/" {
            guard path.hasPrefix("/"), let database = Int(path.dropFirst()), database >= 0 else {
                throw ParseError("the path must be a database number")
            }
            self.database = database
        }
        if components.fragment != nil { throw ParseError("a fragment is not supported") }
        var caFile: String? = nil
        for item in components.queryItems ?? [] {
            guard secure, item.name == "ca", let value = item.value, !value.isEmpty, caFile == nil else {
                throw ParseError(secure ? "the only query parameter is ca=/path/to/ca.pem" : "a query is only for rediss:// (ca=)")
            }
            caFile = value
        }
        if secure { self.tls = try TLS(caFile: caFile) }
    }

    /// Parses `redis-cluster://[[user]:password@]HOST:PORT[,HOST:PORT…][/][?wait=N]`: seed nodes of a
    /// Redis Cluster (port default 6379; a cluster has database 0 only).
    init(clusterURL url: String) throws {
        self.init()
        var rest = Substring(url.dropFirst("redis-cluster://".count))
        try takeCredentials(&rest)
        try takeWait(&rest)
        var hosts = rest
        if let slash = rest.firstIndex(of: "/") {
            hosts = rest[..<slash]
            guard rest[rest.index(after: slash)...].isEmpty else { throw ParseError("a cluster URL has no path: a cluster has database 0 only") }
        }
        var seeds: [Sentinel.Address] = []
        for item in hosts.split(separator: ",", omittingEmptySubsequences: false) {
            seeds.append(try Self.address(item, defaultPort: 6379))
        }
        guard !seeds.isEmpty else { throw ParseError("no cluster node address") }
        self.clusterSeeds = seeds
        self.host = seeds[0].host
        self.port = seeds[0].port
    }

    /// Reads and removes a trailing `?wait=N` (the only query parameter of Sentinel and cluster URLs).
    private mutating func takeWait(_ text: inout Substring) throws {
        guard let question = text.firstIndex(of: "?") else { return }
        for item in text[text.index(after: question)...].split(separator: "&") {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0] == "wait", let count = Int(pair[1]), (0...16).contains(count) else {
                throw ParseError("the only query parameter is wait=N (replicas to wait for, 0 to 16)")
            }
            replicaAcknowledgements = count
        }
        text = text[..<question]
    }

    /// Credentials end where `StoreLocation.credentialsEnd` says (the rule redaction follows too).
    private mutating func takeCredentials(_ rest: inout Substring) throws {
        guard let at = StoreLocation.credentialsEnd(rest) else { return }
        let credentials = rest[..<at]
        rest = rest[rest.index(after: at)...]
        let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw ParseError("credentials must be user:password or :password") }
        guard let user = parts[0].removingPercentEncoding, let password = parts[1].removingPercentEncoding else {
            throw ParseError("bad credential encoding")
        }
        if !user.isEmpty { username = user }
        if !password.isEmpty { self.password = password }
        if username != nil && self.password == nil { throw ParseError("a user needs a password") }
    }

    /// Parses `redis-sentinel://[[user]:password@]HOST:PORT[,HOST:PORT…]/SERVICE[/db]`: the Sentinels
    /// (port default 26379) and the service they monitor. The user and password are the data nodes'
    /// (Sentinels are asked without them); the database defaults to 0.
    init(sentinelURL url: String) throws {
        self.init()
        var rest = Substring(url.dropFirst("redis-sentinel://".count))
        try takeCredentials(&rest)
        guard let slash = rest.firstIndex(of: "/") else { throw ParseError("no service: redis-sentinel://HOST:PORT/SERVICE") }
        var addresses: [Sentinel.Address] = []
        for item in rest[..<slash].split(separator: ",", omittingEmptySubsequences: false) {
            addresses.append(try Self.address(item, defaultPort: 26379))
        }
        guard !addresses.isEmpty else { throw ParseError("no sentinel address") }
        var pathText = rest[rest.index(after: slash)...]
        try takeWait(&pathText)
        let path = pathText.split(separator: "/", omittingEmptySubsequences: false)
        guard let service = path.first, !service.isEmpty, service.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "?" && $0 != "#" }),
            path.count <= 2
        else {
            throw ParseError("the path must be /SERVICE or /SERVICE/DB")
        }
        if path.count == 2 {
            guard let database = Int(path[1]), database >= 0 else { throw ParseError("the database must be a number") }
            self.database = database
        }
        self.sentinel = Sentinel(addresses: addresses, service: String(service))
        self.host = addresses[0].host
        self.port = addresses[0].port
    }

    private static func address(_ text: Substring, defaultPort: Int) throws -> Sentinel.Address {
        var host = text
        var port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ParseError("bad IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else { throw ParseError("bad port") }
                port = number
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            guard let number = Int(text[text.index(after: colon)...]) else { throw ParseError("bad port") }
            port = number
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "@" && $0 != "/" }) else {
            throw ParseError("bad sentinel host")
        }
        guard (1...65535).contains(port) else { throw ParseError("port out of range (1 to 65535)") }
        return Sentinel.Address(host: String(host), port: port)
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        let credentials =
            switch (username, password) {
            case (let user?, _?): "\(user):***@"
            case (nil, _?): ":***@"
            default: ""
            }
        if let clusterSeeds {
            let hosts = clusterSeeds.map { ($0.host.contains(":") ? "[\($0.host)]" : $0.host) + ":\($0.port)" }
            let wait = replicaAcknowledgements > 0 ? "/?wait=\(replicaAcknowledgements)" : ""
            return "redis-cluster://\(credentials)\(hosts.joined(separator: ","))\(wait)"
        }
        if let sentinel {
            let hosts = sentinel.addresses.map { ($0.host.contains(":") ? "[\($0.host)]" : $0.host) + ":\($0.port)" }
            let wait = replicaAcknowledgements > 0 ? "?wait=\(replicaAcknowledgements)" : ""
            return "redis-sentinel://\(credentials)\(hosts.joined(separator: ","))/\(sentinel.service)/\(database)\(wait)"
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let query = tls?.caFile.map { "?ca=\($0)" } ?? ""
        return "\(tls == nil ? "redis" : "rediss")://\(credentials)\(hostPart):\(port)/\(database)\(query)"
    }

    /// A Redis URL that could not be used. The message never contains the URL (it may hold a password).
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// What is wrong.
        public let message: String

        init(_ message: String) { self.message = message }

        public var description: String { "invalid Redis URL: \(message)" }
    }
}

import CloakroomHummingbird
import CloakroomIdentity
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
    /// Reverse proxies whose `X-Forwarded-For` names the client (none by default).
    var trustedProxies: [IPAddressRange] = []
    var passwordHash = ScryptParameters.owasp
    var sweepInterval: Duration = .seconds(60)
    var registrationOpen = true
    var tokens = TokenSettings()
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

    /// The audience tokens are for.
    var audience: String { tokens.audience ?? issuer }
}

/// Where sessions and accounts live, from a store URL.
enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case memory
    case sqlite(path: String)
    case file(directory: String)
    case postgres(url: String)
    case redis(url: String)

    /// Parses `memory` or `sqlite:PATH` (also `sqlite://PATH`).
    init(parsing text: String) throws {
        if text == "memory" || text == "memory:" {
            self = .memory
            return
        }
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw ConfigurationError("store URL \(text): sqlite needs a path, e.g. sqlite:./cloakroom.sqlite") }
            self = .sqlite(path: path)
            return
        }
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
            return
        }
        if text.hasPrefix("redis://") {
            self = .redis(url: text)
            return
        }
        if text.hasPrefix("file:") {
            var path = String(text.dropFirst("file:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw ConfigurationError("store URL \(text): file needs a folder, e.g. file:./sessions") }
            self = .file(directory: path)
            return
        }
        throw ConfigurationError("store URL \(text) is not supported: use memory, sqlite:PATH, file:DIR, postgres://USER@HOST/DB or redis://HOST:PORT/DB")
    }

    var description: String {
        switch self {
        case .memory: "memory"
        case .sqlite(let path): "sqlite:\(path)"
        case .file(let directory): "file:\(directory)"
        case .postgres(let url): Self.redacted(url)
        case .redis(let url): Self.redacted(url)
        }
    }
}

extension StoreLocation {
    /// The URL with any password replaced by `***`, for logs.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex) else { return url }
        let credentials = url[scheme.upperBound..<at.lowerBound]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at.lowerBound...])
    }
}

/// A configuration value that cannot be used; printed to the operator as is.
struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

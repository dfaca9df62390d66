import Foundation

/// Where sessions and accounts live, from a store URL.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    /// A store URL that names no store this server has; `description` says which are.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// What is wrong, with the URL redacted.
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// In this process only.
    case memory
    /// An SQLite file.
    case sqlite(path: String)
    /// A folder of files.
    case file(directory: String)
    /// A PostgreSQL server (`postgres://…`).
    case postgres(url: String)
    /// A Redis server (`redis://…`, `rediss://…` for TLS), the primary a Sentinel names
    /// (`redis-sentinel://…`), or a Redis Cluster (`redis-cluster://…`).
    case redis(url: String)
    /// In the browser: each session sealed into its cookie (`CookieSessionStore`); what the server
    /// still keeps (accounts, tokens, counters, the per-user epochs) lives with the accounts.
    case cookie

    /// Parses `memory` or `sqlite:PATH` (also `sqlite://PATH`).
    public init(parsing text: String) throws(ParseError) {
        if text == "memory" || text == "memory:" {
            self = .memory
            return
        }
        if text == "cookie" || text == "cookie:" {
            self = .cookie
            return
        }
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw ParseError("store URL \(text): sqlite needs a path, e.g. sqlite:./cloakroom.sqlite") }
            self = .sqlite(path: path)
            return
        }
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
            return
        }
        if text.hasPrefix("redis://") || text.hasPrefix("rediss://") || text.hasPrefix("redis-sentinel://")
            || text.hasPrefix("redis-cluster://")
        {
            self = .redis(url: text)
            return
        }
        if text.hasPrefix("file:") {
            var path = String(text.dropFirst("file:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw ParseError("store URL \(text): file needs a folder, e.g. file:./sessions") }
            self = .file(directory: path)
            return
        }
        throw ParseError(
            "store URL \(Self.redacted(text)) is not supported: use memory, cookie, sqlite:PATH, file:DIR, postgres://USER@HOST/DB, redis://HOST:PORT/DB, rediss://HOST:PORT/DB (TLS) redis-sentinel://HOST:PORT[,HOST:PORT…]/SERVICE or redis-cluster://HOST:PORT[,HOST:PORT…]"
        )
    }

    public var description: String {
        switch self {
        case .memory: "memory"
        case .cookie: "cookie"
        case .sqlite(let path): "sqlite:\(path)"
        case .file(let directory): "file:\(directory)"
        case .postgres(let url): Self.redacted(url)
        case .redis(let url): Self.redacted(url)
        }
    }
}

extension StoreLocation {
    /// The URL with any password replaced by `***`, for logs.
    /// A password in the query (`?password=…`, `&sslpassword=…`) is replaced too.
    public static func redacted(_ url: String) -> String {
        redactedQuery(redactedUserInfo(url))
    }

    /// The authority is what follows `://` up to the first `/`; its credentials end at its last
    /// `@` (a password may hold an `@`). `user:password@` keeps the user; a lone `secret@` in a
    /// Redis URL is all hidden.
    private static func redactedUserInfo(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = credentialsEnd(url[scheme.upperBound...]) else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else {
            // `postgres://app@db`: a user name. A Redis URL takes no user without a password, so
            // `redis…://secret@host` is a password written without its colon: hidden.
            return url.lowercased().hasPrefix("redis") ? String(url[..<scheme.upperBound]) + "***" + String(url[at...]) : url
        }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    /// Where the credentials of an authority end: the last `@` before the path's first `/` (a
    /// password may hold `@`; a `/` in it must be percent-encoded). Nil when there are none. The
    /// one rule both parsing a store URL and redacting one follow.
    public static func credentialsEnd(_ afterScheme: Substring) -> Substring.Index? {
        let authorityEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        return afterScheme[..<authorityEnd].lastIndex(of: "@")
    }

    /// Every query parameter whose name contains `password` or `secret` (any case) gets `***`.
    private static func redactedQuery(_ url: String) -> String {
        guard let question = url.firstIndex(of: "?") else { return url }
        let fragmentStart = url[question...].firstIndex(of: "#") ?? url.endIndex
        let query = url[url.index(after: question)..<fragmentStart]
        let parts = query.split(separator: "&", omittingEmptySubsequences: false).map { part -> String in
            guard let equals = part.firstIndex(of: "=") else { return String(part) }
            let name = part[..<equals].lowercased()
            return name.contains("password") || name.contains("secret") ? part[...equals] + "***" : String(part)
        }
        return String(url[...question]) + parts.joined(separator: "&") + String(url[fragmentStart...])
    }
}

extension StoreLocation {
    /// Where accounts go when `--accounts` is not given.
    public var defaultAccounts: StoreLocation {
        switch self {
        case .memory, .sqlite, .postgres: self
        case .file, .redis, .cookie: .sqlite(path: "./cloakroom.sqlite")
        }
    }

    /// Durable stores that can hold accounts.
    public var canHoldAccounts: Bool {
        switch self {
        case .memory, .sqlite, .postgres: true
        case .file, .redis, .cookie: false
        }
    }
}

public import Foundation

/// One server-side session as a store keeps it.
///
/// The store never sees the session ID the client holds: `key` is SHA-256 of it
/// (`SecureToken.hashed`), so a copy of the store cannot be replayed as live cookies.
public struct SessionRecord: Sendable, Codable, Equatable {
    /// Lowercase hex SHA-256 of the session ID.
    public var key: String
    /// A public, non-secret name for this session (shown in "my sessions", used to revoke it).
    /// It survives ID rotation.
    public var handle: String
    /// The signed-in user, nil for an anonymous session.
    public var userID: String?
    /// Application values, each a JSON text.
    public var data: [String: String]
    /// When the session was first created.
    public var createdAt: Date
    /// Last time a request used it (refreshed at most once per touch interval).
    public var lastSeen: Date
    /// When the user signed in on this session.
    public var authenticatedAt: Date?
    /// Sliding expiry: `lastSeen + idleTimeout`.
    public var idleExpiresAt: Date
    /// Hard expiry: `createdAt + absoluteLifetime`; never moves.
    public var absoluteExpiresAt: Date
    /// The User-Agent of the request that created or signed in this session.
    public var userAgent: String?
    /// The client address of the request that created or signed in this session.
    public var ipAddress: String?
    /// Increases by one on every write of `data` or `userID` (compare-and-swap).
    public var version: Int

    /// Creates a record.
    public init(
        key: String,
        handle: String,
        userID: String? = nil,
        data: [String: String] = [:],
        createdAt: Date,
        lastSeen: Date,
        authenticatedAt: Date? = nil,
        idleExpiresAt: Date,
        absoluteExpiresAt: Date,
        userAgent: String? = nil,
        ipAddress: String? = nil,
        version: Int = 1
    ) {
        self.key = key
        self.handle = handle
        self.userID = userID
        self.data = data
        self.createdAt = createdAt
        self.lastSeen = lastSeen
        self.authenticatedAt = authenticatedAt
        self.idleExpiresAt = idleExpiresAt
        self.absoluteExpiresAt = absoluteExpiresAt
        self.userAgent = userAgent
        self.ipAddress = ipAddress
        self.version = version
    }

    /// The earlier of the idle and absolute expiries: after it the session does not exist.
    public var expiresAt: Date { min(idleExpiresAt, absoluteExpiresAt) }

    /// True when the record is past either expiry at `now`.
    public func isExpired(at now: Date) -> Bool { expiresAt <= now }
}

extension SessionRecord {
    /// JSON bytes for stores that keep a record as one value (memory codecs, files, Redis).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(self))
    }

    /// Decodes bytes written by `encoded()`.
    public static func decode(_ bytes: some Collection<UInt8>) throws -> SessionRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return try decoder.decode(SessionRecord.self, from: Data(bytes))
    }
}

public import CloakroomCore
public import Foundation

/// Where sessions live: the one seam every backend implements, five operations over hashed keys.
///
/// Contract (every implementation passes `SessionStoreConformance` in CloakroomTesting):
/// - Keys are the hashed IDs (`SessionRecord.key`); the store never receives a raw session ID.
/// - "Not found" and "expired at `now`" are both `nil`, never an error. Errors mean the store failed
///   (wrap them in `StoreError.unavailable`).
/// - `insert` writes a new record and fails with `StoreError.duplicateKey` if the key exists.
/// - `update` is compare-and-swap: it writes `record` only if the stored version equals
///   `expectedVersion`, and returns false (writing nothing) otherwise or when the record is gone.
/// - `touch` moves `lastSeen` and `idleExpiresAt` without changing `version`.
/// - A record past `expiresAt` may linger until swept, but is never returned.
///
/// Optional abilities are separate protocols a store adopts when it can: ``SessionUserIndex``
/// (a user's sessions), ``IterableSessionStore`` (listing every session), `SweepableStore`
/// (removing expired records) and `PingableStore` (health checks). `SessionManager` asks for the
/// one an operation needs and throws `StoreError.unsupported` when the store lacks it.
public protocol SessionStore: Sendable {
    /// The record for `key`, or nil when there is none or it has expired at `now`.
    func load(key: String, now: Date) async throws -> SessionRecord?
    /// Writes a new record.
    func insert(_ record: SessionRecord) async throws
    /// Replaces the record if its stored version is `expectedVersion`; false on a conflict.
    func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool
    /// Refreshes the sliding expiry; a missing key is not an error.
    func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws
    /// Removes the record; a missing key is not an error.
    func delete(key: String) async throws
}

/// The ability to find a user's sessions: listing them on "your sessions", revoking one, "sign out
/// everywhere" and the per-user session cap need it.
///
/// Contract: the index follows `userID` through `insert`, `update` and `delete` (a session that
/// signs in appears under its user, one deleted or expired is not returned).
public protocol SessionUserIndex: SessionStore {
    /// The live sessions of one user.
    func records(forUser userID: String, now: Date) async throws -> [SessionRecord]
    /// Removes every session of `userID` except `exceptKey`; returns how many were removed.
    func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int
}

/// The ability to walk every live session in key order (operator listings).
public protocol IterableSessionStore: SessionStore {
    /// Up to `limit` live records with keys greater than `afterKey`, in key order.
    func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord]
}

/// A store with every session ability: what the `cloakroom` server needs of its store URL. Every
/// backend shipped here (memory, file, SQLite, PostgreSQL, Redis) is one.
public typealias CompleteSessionStore = SessionStore & SessionUserIndex & IterableSessionStore & SweepableStore & PingableStore

import CloakroomCore
import Foundation

/// Where sessions live: the one seam every backend implements.
///
/// Contract (every implementation passes `SessionStoreConformance` in CloakroomTesting):
/// - Keys are the hashed IDs (`SessionRecord.key`); the store never receives a raw session ID.
/// - "Not found" and "expired at `now`" are both `nil`, never an error. Errors mean the store failed
///   (wrap them in `SessionStoreError.unavailable`).
/// - `insert` writes a new record and fails with `SessionStoreError.duplicateKey` if the key exists.
/// - `update` is compare-and-swap: it writes `record` only if the stored version equals
///   `expectedVersion`, and returns false (writing nothing) otherwise or when the record is gone.
/// - `touch` moves `lastSeen` and `idleExpiresAt` without changing `version`.
/// - A record past `expiresAt` may linger until swept, but is never returned.
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
    /// The live sessions of one user.
    func records(forUser userID: String, now: Date) async throws -> [SessionRecord]
    /// Removes every session of `userID` except `exceptKey`; returns how many were removed.
    func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int
    /// Removes up to `limit` records expired at `now`; returns how many. Sweepers call it in a loop.
    func deleteExpired(now: Date, limit: Int) async throws -> Int
    /// Up to `limit` live records with keys greater than `afterKey`, in key order (for listings).
    func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord]
    /// Whether the store answers; `/healthz` reports it.
    func ping() async throws
}

/// Why a store operation failed.
public struct SessionStoreError: Error, Sendable, CustomStringConvertible {
    private enum Kind: Sendable { case duplicateKey, unavailable }
    private let kind: Kind
    /// What went wrong, with no session data or key in it.
    public let message: String

    /// The key is already taken (`insert`).
    public static func duplicateKey() -> SessionStoreError { .init(kind: .duplicateKey, message: "session key already exists") }
    /// The backend could not be reached or failed.
    public static func unavailable(_ message: String) -> SessionStoreError { .init(kind: .unavailable, message: message) }

    /// True for `duplicateKey`.
    public var isDuplicateKey: Bool { kind == .duplicateKey }
    /// True for `unavailable`.
    public var isUnavailable: Bool { kind == .unavailable }
    public var description: String { "SessionStoreError: \(message)" }
}

extension SessionStoreError: BackendUnavailableError {}

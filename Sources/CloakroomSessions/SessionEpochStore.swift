import Synchronization

/// A small server-side table of one number per user: what lets sessions kept in cookies
/// (`CookieSessionStore`) be revoked.
///
/// Every signed-in cookie session carries the epoch its user had when it was sealed; it opens only
/// while that is still the user's epoch. "Sign out everywhere" (and a password change, disable or
/// delete) advances the epoch, so every copy of every cookie of that user stops opening at once.
///
/// Contract (every implementation passes `SessionEpochStoreConformance` in CloakroomTesting):
/// - A user never seen has epoch 0.
/// - `advance` raises the user's epoch by one, atomically (two concurrent advances give two
///   different results), and returns the new value; other users are unaffected.
/// - Epochs never go down.
/// - Errors mean the store failed (`StoreError.unavailable`).
public protocol SessionEpochStore: Sendable {
    /// The user's current epoch (0 for a user never advanced).
    func epoch(forUser userID: String) async throws -> UInt64
    /// Raises the user's epoch by one and returns the new value.
    func advance(forUser userID: String) async throws -> UInt64
}

/// Epochs in this process's memory: for tests and a single node (`--accounts memory`).
public final class MemorySessionEpochStore: SessionEpochStore {
    private let epochs = Mutex<[String: UInt64]>([:])

    public init() {}

    public func epoch(forUser userID: String) async throws -> UInt64 {
        epochs.withLock { $0[userID] ?? 0 }
    }

    public func advance(forUser userID: String) async throws -> UInt64 {
        epochs.withLock { table in
            let next = (table[userID] ?? 0) + 1
            table[userID] = next
            return next
        }
    }
}

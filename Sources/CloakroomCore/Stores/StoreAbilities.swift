public import Foundation

/// A store whose records expire and can be swept: an optional ability a store adopts beside its
/// core protocol (`SessionStore`, `RefreshTokenStore`), as scs's stores adopt `IterableStore`.
///
/// Contract: removes at most `limit` records that are expired at `now` and returns how many it
/// removed; a sweeper calls it in a loop until it returns less than `limit`. Expired records are
/// never returned by reads, so sweeping only reclaims space and never changes what a read sees.
public protocol SweepableStore: Sendable {
    /// Removes up to `limit` records expired at `now`; returns how many.
    func deleteExpired(now: Date, limit: Int) async throws -> Int
}

/// A store that can say whether its backend answers (`/healthz` asks it).
///
/// Contract: returns when one round trip to the backend succeeded; throws (a
/// `BackendUnavailableError`) when it did not. It reads or writes no record.
public protocol PingableStore: Sendable {
    /// Throws when the backend does not answer.
    func ping() async throws
}

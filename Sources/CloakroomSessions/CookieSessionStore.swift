public import CloakroomCore
public import Foundation
public import Logging

/// Sessions kept in the browser: the whole record sealed into the session cookie (encrypted and
/// authenticated by default), so the server stores no session at all.
///
/// Give it to a `SessionManager` like any store; the manager recognises it and keeps the record in
/// the cookie instead of writing it to a server (`open` on every request, `seal` whenever the record
/// or its expiry changes). What that costs, compared with a server-side store:
/// - **Size.** Everything travels on every request, and a cookie's name and value may not pass
///   4,096 bytes: a write that would need more is refused (`SessionError.cookieTooLarge`, 413 through
///   the API) and the browser keeps its previous cookie. The user agent and address are not sealed
///   (every request brings them again).
/// - **Revocation.** A copy of a cookie opens until the expiry sealed inside it. Signing out expires
///   the cookie in this browser only; a copy taken before still opens until its idle timeout.
///   "Sign out everywhere" works through `epochs`, a small server-side table of one number per
///   user (one read per signed-in request): advancing it ends every copy of every cookie of that
///   user. Without `epochs` nothing can be revoked.
/// - **No listing.** The server cannot list a user's sessions or end one by its handle: it never
///   sees the others. `SessionManager` throws `StoreError.unsupported` for those.
/// - **Concurrent writes.** Two requests that change the session at once each send a cookie; the
///   browser keeps the last one (no compare-and-swap is possible).
///
/// The payload is `0x01 ‖ epoch (u64, big-endian) ‖ the record's compact binary form`, sealed by
/// `Sealer` under `cookieName` with the session's expiry (the earlier of its idle and absolute
/// expiry) inside the seal, so an expired cookie is refused before its record is decoded.
public struct CookieSessionStore: SessionStore, PingableStore {
    /// A record opened from a cookie, with the epoch it was sealed under.
    public struct Opened: Sendable {
        public let record: SessionRecord
        public let epoch: UInt64
    }

    /// Seals and opens the cookie values.
    public let sealer: Sealer
    /// The session cookie's name: bound into every seal, so it must match the cookie the
    /// middleware sets (`SessionCookieSettings.cookieName`).
    public let cookieName: String
    /// Per-user revocation epochs; nil: nothing can be revoked before it expires.
    public let epochs: (any SessionEpochStore)?
    let logger: Logger

    /// Creates the store. `mode` is `.aesGCM` (the default) or `.chaChaPoly` to encrypt, or
    /// `.signed` to leave the record readable by the client (never for data the user must not see).
    public init(
        ring: SealingKeyRing,
        mode: Sealer.Mode = .aesGCM,
        cookieName: String,
        epochs: (any SessionEpochStore)?,
        logger: Logger = Logger(label: "cloakroom.sessions")
    ) {
        self.sealer = Sealer(ring: ring, mode: mode)
        self.cookieName = cookieName
        self.epochs = epochs
        self.logger = logger
    }

    /// The record `cookieValue` holds, if it was sealed by this store for `cookieName`, has not
    /// expired, and (signed in) its user's epoch has not moved since. Throws only when the epoch
    /// table fails.
    public func open(_ cookieValue: String, now: Date) async throws -> Opened? {
        let payload: [UInt8]
        do {
            payload = try sealer.open(cookieValue, name: cookieName, now: now)
        } catch {
            logger.debug("session cookie refused", metadata: ["reason": "\(error.reason.rawValue)"])
            return nil
        }
        guard payload.count > 9, payload[0] == Self.formatVersion else { return nil }
        let epoch = payload[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard var record = SessionRecord(binary: Array(payload[9...]), key: "") else { return nil }
        record.key = Self.key(handle: record.handle)
        if let userID = record.userID, let epochs {
            guard try await epochs.epoch(forUser: userID) == epoch else {
                logger.debug("session cookie revoked", metadata: ["session": "\(record.handle)"])
                return nil
            }
        }
        return Opened(record: record, epoch: epoch)
    }

    /// `record` sealed under `epoch`, expiring at `expires`; `SessionError.cookieTooLarge` when the
    /// cookie's name and value would pass 4,096 bytes.
    public func seal(_ record: SessionRecord, epoch: UInt64, expires: Date) throws -> String {
        var stripped = record
        stripped.userAgent = nil
        stripped.ipAddress = nil
        var payload: [UInt8] = [Self.formatVersion]
        payload.append(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: epoch >> (56 - 8 * $0)) })
        payload.append(contentsOf: stripped.binaryEncoded())
        let sealed = try sealer.seal(payload, name: cookieName, expires: expires)
        let size = cookieName.utf8.count + sealed.utf8.count
        guard size <= Cookie.maximumNameValueLength else {
            throw SessionError.cookieTooLarge(size: size, limit: Cookie.maximumNameValueLength)
        }
        return sealed
    }

    /// The key a cookie session's record carries: derived from its handle (the server keeps no
    /// record under it).
    static func key(handle: String) -> String { "cookie:" + handle }

    static let formatVersion: UInt8 = 1

    // MARK: - SessionStore: the server keeps no record

    /// Always nil: no session is kept on the server (the manager opens the cookie instead).
    public func load(key: String, now: Date) async throws -> SessionRecord? { nil }
    /// Nothing to write: the record goes out in the cookie.
    public func insert(_ record: SessionRecord) async throws {}
    /// Nothing to compare: the record goes out in the cookie (true).
    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool { true }
    /// Nothing to write: the manager seals the new expiry into the cookie.
    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {}
    /// Nothing to delete: the manager expires the cookie.
    public func delete(key: String) async throws {}

    /// Pings the epoch table, when it can be pinged.
    public func ping() async throws {
        if let pingable = epochs as? any PingableStore { try await pingable.ping() }
    }
}

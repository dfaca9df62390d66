import CloakroomCore
public import CloakroomTokens
public import Foundation
import PostgresNIO

/// Token state in PostgreSQL, beside the sessions: every node sees the same refresh-token
/// families, epochs and deny-list.
///
/// Schema (migration 2 in `CloakroomPostgresDatabase.migrations`): `cloakroom_refresh_tokens` keyed
/// by the hashed token with indexes on `family_id`, `user_id` and `expires_at`;
/// `cloakroom_token_epochs` keyed by user; `cloakroom_denied_token_ids` keyed by `jti` (a denied
/// sign-in is the row `sid:<familyID>`). Times are
/// rounded to milliseconds before they are stored.
///
/// - Rotation is one statement: `WITH used AS (UPDATE … SET used_at = now WHERE key = $1 AND
///   used_at IS NULL AND expires_at > now RETURNING …) INSERT … SELECT … FROM used`, so marking the
///   token used and storing its successor commit together. Of concurrent rotations one updates the
///   row; the others wait for its lock, find it used, and revoke the family.
/// - Revoking a family (or a user's tokens) repeats its `DELETE` until one finds nothing: a
///   rotation that commits while a `DELETE` runs inserts a successor that `DELETE`'s snapshot cannot
///   see, and the next pass, whose snapshot starts after that commit, removes it.
/// - `deleteExpired` deletes one small batch of rows it could lock without waiting
///   (`FOR UPDATE SKIP LOCKED`), like the session sweep.
///
/// Every call is bounded by the database's timeout; failures are `StoreError.unavailable` with
/// no key or value in the message.
public struct PostgresTokenStore: TokenStore {
    let database: CloakroomPostgresDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomPostgresDatabase) {
        self.database = database
    }

    private static let columns = "key, family_id, user_id, client_id, scope, issued_at, expires_at, family_expires_at, used_at"

    public func insertRefreshToken(_ record: RefreshTokenRecord) async throws {
        do {
            try await database.query(
                """
                INSERT INTO cloakroom_refresh_tokens (\(unescaped: Self.columns)) VALUES (
                    \(record.key), \(record.familyID), \(record.userID), \(record.clientID), \(record.scope),
                    \(Self.ms(record.issuedAt)), \(Self.ms(record.expiresAt)), \(Self.ms(record.familyExpiresAt)),
                    \(record.usedAt.map(Self.ms)))
                """,
                "refresh token insert"
            )
        } catch let error as PostgresStoreError where error.isUniqueViolation {
            throw StoreError.duplicateKey()
        } catch let error as PostgresStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    public func refreshToken(key: String, now: Date) async throws -> RefreshTokenRecord? {
        let rows = try await database.run(
            "refresh token load",
            "SELECT \(unescaped: Self.columns) FROM cloakroom_refresh_tokens WHERE key = \(key) AND expires_at > \(Self.ms(now))"
        )
        return try rows.first.map(Self.record(from:))
    }

    public func rotateRefreshToken(key: String, newKey: String, now: Date, lifetime: TimeInterval) async throws -> RefreshRotation {
        let now = Self.ms(now)
        let expiry = Self.ms(now.addingTimeInterval(max(lifetime, 0)))
        // A row that is neither rotatable nor used-and-live can only appear if the key was deleted
        // and re-inserted between the two statements; look again, a bounded number of times.
        for _ in 0..<3 {
            let rotated: [PostgresRow]
            do {
                rotated = try await database.query(
                    """
                    WITH used AS (
                        UPDATE cloakroom_refresh_tokens SET used_at = \(now)
                        WHERE key = \(key) AND used_at IS NULL AND expires_at > \(now)
                        RETURNING family_id, user_id, client_id, scope, family_expires_at
                    )
                    INSERT INTO cloakroom_refresh_tokens (key, family_id, user_id, client_id, scope, issued_at, expires_at, family_expires_at)
                    SELECT \(newKey), family_id, user_id, client_id, scope, \(now), LEAST(\(expiry), family_expires_at), family_expires_at
                    FROM used
                    RETURNING \(unescaped: Self.columns)
                    """,
                    "refresh token rotation"
                )
            } catch let error as PostgresStoreError where error.isUniqueViolation {
                // The successor key is taken; the statement (the used mark too) rolled back.
                throw StoreError.duplicateKey()
            } catch let error as PostgresStoreError {
                throw StoreError.unavailable(error.message)
            }
            if let row = rotated.first {
                return .rotated(successor: try Self.record(from: row))
            }
            guard let existing = try await refreshToken(key: key, now: now) else { return .invalid }
            if existing.usedAt != nil {
                _ = try await revokeFamily(existing.familyID)
                return .reused(existing)
            }
        }
        return .invalid
    }

    public func revokeFamily(_ familyID: String) async throws -> Int {
        try await deleteUntilGone(
            "refresh token family revocation",
            "WITH deleted AS (DELETE FROM cloakroom_refresh_tokens WHERE family_id = \(familyID) RETURNING 1) SELECT count(*) FROM deleted"
        )
    }

    public func revokeRefreshTokens(forUser userID: String) async throws -> Int {
        try await deleteUntilGone(
            "per-user refresh token revocation",
            "WITH deleted AS (DELETE FROM cloakroom_refresh_tokens WHERE user_id = \(userID) RETURNING 1) SELECT count(*) FROM deleted"
        )
    }

    public func refreshTokens(forUser userID: String, now: Date) async throws -> [RefreshTokenRecord] {
        let rows = try await database.run(
            "refresh token listing",
            "SELECT \(unescaped: Self.columns) FROM cloakroom_refresh_tokens WHERE user_id = \(userID) AND expires_at > \(Self.ms(now))"
        )
        return try rows.map(Self.record(from:))
    }

    public func raiseEpoch(forUser userID: String, to epoch: Int, keepUntil: Date) async throws {
        try await database.run(
            "revocation epoch update",
            """
            INSERT INTO cloakroom_token_epochs AS e (user_id, epoch, keep_until) VALUES (\(userID), \(epoch), \(Self.ms(keepUntil)))
            ON CONFLICT (user_id) DO UPDATE SET
                epoch = GREATEST(e.epoch, excluded.epoch), keep_until = GREATEST(e.keep_until, excluded.keep_until)
            """
        )
    }

    public func denyTokenID(_ tokenID: String, until: Date) async throws {
        try await database.run(
            "token deny-list insert",
            """
            INSERT INTO cloakroom_denied_token_ids AS d (jti, until) VALUES (\(tokenID), \(Self.ms(until)))
            ON CONFLICT (jti) DO UPDATE SET until = GREATEST(d.until, excluded.until)
            """
        )
    }

    /// One query: the epoch and both deny-list lookups (a nil `sessionID` binds NULL, which
    /// matches no row).
    public func revocationState(userID: String, tokenID: String, sessionID: String?, now: Date) async throws -> RevocationState {
        let now = Self.ms(now)
        let sessionKey = sessionID.map { RevocationState.deniedID(sessionID: $0) }
        let rows = try await database.run(
            "revocation state",
            """
            SELECT COALESCE((SELECT epoch FROM cloakroom_token_epochs WHERE user_id = \(userID) AND keep_until > \(now)), 0)::bigint,
                   EXISTS (SELECT 1 FROM cloakroom_denied_token_ids WHERE jti = \(tokenID) AND until > \(now)),
                   EXISTS (SELECT 1 FROM cloakroom_denied_token_ids WHERE jti = \(sessionKey) AND until > \(now))
            """
        )
        guard let row = rows.first else { throw StoreError.unavailable("revocation state query returned no row") }
        do {
            let (epoch, denied, sessionDenied) = try row.decode((Int, Bool, Bool).self)
            return RevocationState(epoch: epoch, denied: denied, sessionDenied: sessionDenied)
        } catch {
            throw StoreError.unavailable("malformed revocation state row")
        }
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        let now = Self.ms(now)
        var removed = 0
        for (table, key, expiry) in [
            ("cloakroom_refresh_tokens", "key", "expires_at"),
            ("cloakroom_token_epochs", "user_id", "keep_until"),
            ("cloakroom_denied_token_ids", "jti", "until"),
        ] where removed < limit {
            let rows = try await database.run(
                "expired token state sweep",
                """
                WITH deleted AS (
                    DELETE FROM \(unescaped: table) WHERE \(unescaped: key) IN (
                        SELECT \(unescaped: key) FROM \(unescaped: table) WHERE \(unescaped: expiry) <= \(now)
                        ORDER BY \(unescaped: expiry) LIMIT \(limit - removed) FOR UPDATE SKIP LOCKED)
                    RETURNING 1
                ) SELECT count(*) FROM deleted
                """
            )
            removed += try Self.count(rows)
        }
        return removed
    }

    // MARK: - Mapping

    /// Runs a counting `DELETE` until a pass removes nothing; returns the total.
    private func deleteUntilGone(_ what: String, _ query: PostgresQuery) async throws -> Int {
        var total = 0
        while true {
            let removed = try Self.count(try await database.run(what, query))
            if removed == 0 { return total }
            total += removed
        }
    }

    /// `date` rounded to whole milliseconds, the precision every token store keeps.
    private static func ms(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    private static func count(_ rows: [PostgresRow]) throws -> Int {
        guard let row = rows.first else { return 0 }
        do {
            return try row.decode(Int.self)
        } catch {
            throw StoreError.unavailable("malformed count row from PostgreSQL")
        }
    }

    private static func record(from row: PostgresRow) throws -> RefreshTokenRecord {
        let columns: (String, String, String, String, String, Date, Date, Date, Date?)
        do {
            columns = try row.decode((String, String, String, String, String, Date, Date, Date, Date?).self)
        } catch {
            throw StoreError.unavailable("malformed refresh token row")
        }
        let (key, family, user, client, scope, issued, expires, familyExpires, used) = columns
        return RefreshTokenRecord(
            key: key,
            familyID: family,
            userID: user,
            clientID: client,
            scope: scope,
            issuedAt: issued,
            expiresAt: expires,
            familyExpiresAt: familyExpires,
            usedAt: used
        )
    }
}

import CloakroomCore
public import CloakroomTokens
public import Foundation
import SQLiteNIO

/// Token state in a SQLite file, beside the sessions. Survives restarts; shared by processes on one host.
///
/// Schema (migration 2 in `CloakroomSQLiteDatabase.migrations`, times in integer milliseconds):
/// `refresh_tokens` keyed by the hashed token with indexes on `family_id`, `user_id` and
/// `expires_at`; `token_epochs` keyed by user; `denied_token_ids` keyed by `jti` (a denied sign-in
/// is the row `sid:<familyID>`). Like every store on this database, each write is single
/// statements on the one writer connection (lookups go to the read-only connections), never a
/// transaction held across an `await`: rotation is one
/// `UPDATE … WHERE used_at IS NULL AND expires_at > now` whose trigger (`refresh_tokens_rotate`)
/// inserts the successor in the same statement, so it is atomic across tasks and processes.
public struct SQLiteTokenStore: TokenStore {
    let database: CloakroomSQLiteDatabase

    /// Creates the store over an open (migrated) database.
    public init(database: CloakroomSQLiteDatabase) {
        self.database = database
    }

    private static let columns = "key, family_id, user_id, client_id, scope, issued_at, expires_at, family_expires_at, used_at"

    public func insertRefreshToken(_ record: RefreshTokenRecord) async throws {
        do {
            try await database.query(
                "INSERT INTO refresh_tokens (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(record.key), .text(record.familyID), .text(record.userID), .text(record.clientID),
                    .text(record.scope), .integer(Self.ms(record.issuedAt)), .integer(Self.ms(record.expiresAt)),
                    .integer(Self.ms(record.familyExpiresAt)), record.usedAt.map { .integer(Self.ms($0)) } ?? .null,
                ]
            )
        } catch let error as SQLiteStoreError where error.isConstraint {
            throw StoreError.duplicateKey()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    public func refreshToken(key: String, now: Date) async throws -> RefreshTokenRecord? {
        let rows = try await run {
            try await database.read(
                "SELECT \(Self.columns) FROM refresh_tokens WHERE key = ? AND expires_at > ?",
                [.text(key), .integer(Self.ms(now))]
            )
        }
        return try rows.first.map(Self.record(from:))
    }

    public func rotateRefreshToken(key: String, newKey: String, now: Date, lifetime: TimeInterval) async throws -> RefreshRotation {
        let nowMs = Self.ms(now)
        let successorExpiry = Self.ms(now.addingTimeInterval(max(lifetime, 0)))
        // A row that is neither rotatable nor used-and-live can only appear if the key was deleted
        // and re-inserted between the two statements; look again, a bounded number of times.
        for _ in 0..<3 {
            let rotated: [CloakroomSQLiteDatabase.Row]
            do {
                rotated = try await database.query(
                    """
                    UPDATE refresh_tokens SET used_at = ?, successor_key = ?, successor_expires_at = MIN(?, family_expires_at)
                    WHERE key = ? AND used_at IS NULL AND expires_at > ? RETURNING \(Self.columns), successor_expires_at
                    """,
                    [.integer(nowMs), .text(newKey), .integer(successorExpiry), .text(key), .integer(nowMs)]
                )
            } catch let error as SQLiteStoreError where error.isConstraint {
                // The successor key is taken; the whole statement (the used mark too) rolled back.
                throw StoreError.duplicateKey()
            } catch let error as SQLiteStoreError {
                throw StoreError.unavailable(error.message)
            }
            if let row = rotated.first {
                let old = try Self.record(from: row)
                guard let expiry = row.column("successor_expires_at")?.integer else {
                    throw StoreError.unavailable("malformed refresh token row")
                }
                return .rotated(
                    successor: RefreshTokenRecord(
                        key: newKey,
                        familyID: old.familyID,
                        userID: old.userID,
                        clientID: old.clientID,
                        scope: old.scope,
                        issuedAt: Self.date(nowMs),
                        expiresAt: Self.date(expiry),
                        familyExpiresAt: old.familyExpiresAt
                    )
                )
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
        let rows = try await run {
            try await database.query("DELETE FROM refresh_tokens WHERE family_id = ? RETURNING key", [.text(familyID)])
        }
        return rows.count
    }

    public func revokeRefreshTokens(forUser userID: String) async throws -> Int {
        let rows = try await run {
            try await database.query("DELETE FROM refresh_tokens WHERE user_id = ? RETURNING key", [.text(userID)])
        }
        return rows.count
    }

    public func refreshTokens(forUser userID: String, now: Date) async throws -> [RefreshTokenRecord] {
        let rows = try await run {
            try await database.read(
                "SELECT \(Self.columns) FROM refresh_tokens WHERE user_id = ? AND expires_at > ?",
                [.text(userID), .integer(Self.ms(now))]
            )
        }
        return try rows.map(Self.record(from:))
    }

    public func raiseEpoch(forUser userID: String, to epoch: Int, keepUntil: Date) async throws {
        try await run {
            try await database.query(
                """
                INSERT INTO token_epochs (user_id, epoch, keep_until) VALUES (?, ?, ?)
                ON CONFLICT (user_id) DO UPDATE SET epoch = MAX(epoch, excluded.epoch), keep_until = MAX(keep_until, excluded.keep_until)
                """,
                [.text(userID), .integer(epoch), .integer(Self.ms(keepUntil))]
            )
        }
    }

    public func denyTokenID(_ tokenID: String, until: Date) async throws {
        try await run {
            try await database.query(
                "INSERT INTO denied_token_ids (jti, until) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE SET until = MAX(until, excluded.until)",
                [.text(tokenID), .integer(Self.ms(until))]
            )
        }
    }

    /// One query: the epoch and both deny-list lookups (a nil `sessionID` binds NULL, which
    /// matches no row).
    public func revocationState(userID: String, tokenID: String, sessionID: String?, now: Date) async throws -> RevocationState {
        let nowMs = Self.ms(now)
        let rows = try await run {
            try await database.read(
                """
                SELECT COALESCE((SELECT epoch FROM token_epochs WHERE user_id = ? AND keep_until > ?), 0) AS epoch,
                       EXISTS (SELECT 1 FROM denied_token_ids WHERE jti = ? AND until > ?) AS denied,
                       EXISTS (SELECT 1 FROM denied_token_ids WHERE jti = ? AND until > ?) AS session_denied
                """,
                [
                    .text(userID), .integer(nowMs), .text(tokenID), .integer(nowMs),
                    sessionID.map { .text(RevocationState.deniedID(sessionID: $0)) } ?? .null, .integer(nowMs),
                ]
            )
        }
        guard let row = rows.first, let epoch = row.column("epoch")?.integer, let denied = row.column("denied")?.integer,
            let sessionDenied = row.column("session_denied")?.integer
        else {
            throw StoreError.unavailable("malformed revocation state row")
        }
        return RevocationState(epoch: epoch, denied: denied != 0, sessionDenied: sessionDenied != 0)
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        let nowMs = Self.ms(now)
        var removed = 0
        for (table, key, expiry) in [
            ("refresh_tokens", "key", "expires_at"), ("token_epochs", "user_id", "keep_until"), ("denied_token_ids", "jti", "until"),
        ]
        where removed < limit {
            removed += try await run {
                try await database.deleteInChunks(
                    "DELETE FROM \(table) WHERE \(key) IN (SELECT \(key) FROM \(table) WHERE \(expiry) <= ? LIMIT ?) RETURNING \(key)",
                    [.integer(nowMs)],
                    limit: limit - removed
                )
            }
        }
        return removed
    }

    // MARK: - Mapping

    @discardableResult
    private func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    private static func ms(_ date: Date) -> Int { Int(date.storedMilliseconds) }

    private static func date(_ ms: Int) -> Date {
        Date(timeIntervalSince1970: Double(ms) / 1000)
    }

    private static func record(from row: CloakroomSQLiteDatabase.Row) throws -> RefreshTokenRecord {
        guard let key = row.column("key")?.string, let family = row.column("family_id")?.string,
            let user = row.column("user_id")?.string, let client = row.column("client_id")?.string,
            let scope = row.column("scope")?.string, let issued = row.column("issued_at")?.integer,
            let expires = row.column("expires_at")?.integer, let familyExpires = row.column("family_expires_at")?.integer
        else { throw StoreError.unavailable("malformed refresh token row") }
        return RefreshTokenRecord(
            key: key,
            familyID: family,
            userID: user,
            clientID: client,
            scope: scope,
            issuedAt: date(issued),
            expiresAt: date(expires),
            familyExpiresAt: date(familyExpires),
            usedAt: row.column("used_at")?.integer.map(date)
        )
    }
}

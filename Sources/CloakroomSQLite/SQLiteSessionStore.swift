import CloakroomCore
public import CloakroomSessions
public import Foundation
import SQLiteNIO

/// Sessions in a SQLite file: the default store. Survives restarts; shared by processes on one host.
///
/// Schema (`sessions` table, see `CloakroomSQLiteDatabase.migrations`): primary key on the hashed
/// ID, indexes on `expires_at` (sweeps) and `user_id` (per-user listing). Compare-and-swap is one
/// `UPDATE … WHERE key = ? AND version = ? RETURNING key`.
public struct SQLiteSessionStore: CompleteSessionStore {
    let database: CloakroomSQLiteDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomSQLiteDatabase) {
        self.database = database
    }

    private static let columns =
        "key, handle, user_id, data, created_at, last_seen, authenticated_at, idle_expires_at, absolute_expires_at, user_agent, ip_address, version"

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        let rows = try await run {
            try await database.read("SELECT \(Self.columns) FROM sessions WHERE key = ? AND expires_at > ?", [.text(key), now.sqlite])
        }
        return try rows.first.map(Self.record(from:))
    }

    public func insert(_ record: SessionRecord) async throws {
        do {
            try await database.query(
                "INSERT INTO sessions (\(Self.columns), expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                try Self.binds(record) + [record.expiresAt.sqlite]
            )
        } catch let error as SQLiteStoreError where error.isConstraint {
            throw StoreError.duplicateKey()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        let data = try Self.encodeData(record.data)
        let rows = try await run {
            try await database.query(
                """
                UPDATE sessions SET user_id = ?, data = ?, last_seen = ?, authenticated_at = ?, idle_expires_at = ?,
                    absolute_expires_at = ?, expires_at = ?, user_agent = ?, ip_address = ?, version = ?, handle = ?
                WHERE key = ? AND version = ? RETURNING key
                """,
                [
                    record.userID.sqlite, .text(data), record.lastSeen.sqlite, record.authenticatedAt.map(\.sqlite) ?? .null,
                    record.idleExpiresAt.sqlite, record.absoluteExpiresAt.sqlite, record.expiresAt.sqlite,
                    record.userAgent.sqlite, record.ipAddress.sqlite, .integer(record.version), .text(record.handle),
                    .text(record.key), .integer(expectedVersion),
                ]
            )
        }
        return !rows.isEmpty
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        try await run {
            try await database.query(
                "UPDATE sessions SET last_seen = ?, idle_expires_at = ?, expires_at = MIN(?, absolute_expires_at) WHERE key = ?",
                [lastSeen.sqlite, idleExpiresAt.sqlite, idleExpiresAt.sqlite, .text(key)]
            )
        }
    }

    public func delete(key: String) async throws {
        try await run { try await database.query("DELETE FROM sessions WHERE key = ?", [.text(key)]) }
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        let rows = try await run {
            try await database.read("SELECT \(Self.columns) FROM sessions WHERE user_id = ? AND expires_at > ?", [.text(userID), now.sqlite])
        }
        return try rows.map(Self.record(from:))
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        let rows = try await run {
            try await database.query("DELETE FROM sessions WHERE user_id = ? AND key IS NOT ? RETURNING key", [.text(userID), exceptKey.sqlite])
        }
        return rows.count
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        try await run {
            try await database.deleteInChunks(
                "DELETE FROM sessions WHERE key IN (SELECT key FROM sessions WHERE expires_at <= ? LIMIT ?) RETURNING key",
                [now.sqlite],
                limit: limit
            )
        }
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        let rows = try await run {
            try await database.read(
                "SELECT \(Self.columns) FROM sessions WHERE key > ? AND expires_at > ? ORDER BY key LIMIT ?",
                [.text(afterKey ?? ""), now.sqlite, .integer(limit)]
            )
        }
        return try rows.map(Self.record(from:))
    }

    public func ping() async throws {
        try await run { _ = try await database.read("SELECT 1") }
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

    private static func binds(_ record: SessionRecord) throws -> [SQLiteData] {
        [
            .text(record.key), .text(record.handle), record.userID.sqlite, .text(try encodeData(record.data)),
            record.createdAt.sqlite, record.lastSeen.sqlite, record.authenticatedAt.map(\.sqlite) ?? .null,
            record.idleExpiresAt.sqlite, record.absoluteExpiresAt.sqlite, record.userAgent.sqlite,
            record.ipAddress.sqlite, .integer(record.version),
        ]
    }

    private static func encodeData(_ data: [String: String]) throws -> String {
        // Most sessions hold no data: skip the encoder for them.
        if data.isEmpty { return "{}" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(data), as: UTF8.self)
    }

    private static func record(from row: CloakroomSQLiteDatabase.Row) throws -> SessionRecord {
        guard let key = row.column("key")?.string, let handle = row.column("handle")?.string,
            let dataText = row.column("data")?.string,
            let created = row.column("created_at")?.date, let lastSeen = row.column("last_seen")?.date,
            let idle = row.column("idle_expires_at")?.date, let absolute = row.column("absolute_expires_at")?.date,
            let version = row.column("version")?.integer
        else { throw StoreError.unavailable("malformed session row") }
        let data = dataText == "{}" ? [:] : (try? JSONDecoder().decode([String: String].self, from: Data(dataText.utf8))) ?? [:]
        return SessionRecord(
            key: key,
            handle: handle,
            userID: row.column("user_id")?.string,
            data: data,
            createdAt: created,
            lastSeen: lastSeen,
            authenticatedAt: row.column("authenticated_at")?.date,
            idleExpiresAt: idle,
            absoluteExpiresAt: absolute,
            userAgent: row.column("user_agent")?.string,
            ipAddress: row.column("ip_address")?.string,
            version: Int(version)
        )
    }
}

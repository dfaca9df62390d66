public import CloakroomCore
public import CloakroomSessions
import SQLiteNIO

/// Per-user session epochs (what revokes sessions kept in cookies), in the SQLite file beside the
/// accounts (`session_epochs`, migration 6): one row per user who ever signed out everywhere.
public struct SQLiteSessionEpochStore: SessionEpochStore, PingableStore {
    let database: CloakroomSQLiteDatabase

    /// Creates the store over an open (migrated) database.
    public init(database: CloakroomSQLiteDatabase) {
        self.database = database
    }

    public func epoch(forUser userID: String) async throws -> UInt64 {
        let rows = try await run { try await database.read("SELECT epoch FROM session_epochs WHERE user_id = ?", [.text(userID)]) }
        return UInt64(max(0, rows.first?.column("epoch")?.integer ?? 0))
    }

    public func advance(forUser userID: String) async throws -> UInt64 {
        let rows = try await run {
            try await database.query(
                "INSERT INTO session_epochs (user_id, epoch) VALUES (?, 1) ON CONFLICT (user_id) DO UPDATE SET epoch = epoch + 1 RETURNING epoch",
                [.text(userID)]
            )
        }
        guard let epoch = rows.first?.column("epoch")?.integer, epoch > 0 else {
            throw StoreError.unavailable("session epoch update returned no row")
        }
        return UInt64(epoch)
    }

    public func ping() async throws {
        try await run { _ = try await database.read("SELECT 1") }
    }

    private func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteStoreError {
            throw StoreError.unavailable(error.message)
        }
    }
}

public import CloakroomCore
public import CloakroomSessions
import PostgresNIO

/// Per-user session epochs (what revokes sessions kept in cookies), in PostgreSQL beside the
/// accounts (`cloakroom_session_epochs`, migration 6), so every node reads the same epoch.
public struct PostgresSessionEpochStore: SessionEpochStore, PingableStore {
    let database: CloakroomPostgresDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomPostgresDatabase) {
        self.database = database
    }

    public func epoch(forUser userID: String) async throws -> UInt64 {
        let rows = try await database.run("session epoch lookup", Lookup(userID: userID))
        guard let row = rows.first else { return 0 }
        return try Self.epoch(from: row)
    }

    public func advance(forUser userID: String) async throws -> UInt64 {
        let rows = try await database.run(
            "session epoch advance",
            """
            INSERT INTO cloakroom_session_epochs (user_id, epoch) VALUES (\(userID), 1)
            ON CONFLICT (user_id) DO UPDATE SET epoch = cloakroom_session_epochs.epoch + 1 RETURNING epoch
            """
        )
        guard let row = rows.first else { throw StoreError.unavailable("session epoch update returned no row") }
        return try Self.epoch(from: row)
    }

    public func ping() async throws {
        try await database.run("ping", SelectOne())
    }

    private static func epoch(from row: PostgresRow) throws -> UInt64 {
        guard let value = try? row.decode(Int64.self), value >= 0 else {
            throw StoreError.unavailable("malformed session epoch row from PostgreSQL")
        }
        return UInt64(value)
    }

}

extension PostgresSessionEpochStore {
    /// Read on every signed-in request of a cookie session: kept prepared.
    struct Lookup: KeptStatement {
        static let name = "cloakroom_session_epoch"
        static let sql = "SELECT epoch FROM cloakroom_session_epochs WHERE user_id = $1"
        var bindings = PostgresBindings(capacity: 1)

        init(userID: String) {
            bindings.append(userID)
        }
    }
}

import CloakroomCore
public import CloakroomIdentity
import Foundation
import PostgresNIO

/// Accounts in PostgreSQL (`cloakroom_accounts`; a unique index on the normalised username).
///
/// `username_key` holds `Account.normalize(username)` (trimmed, NFKC, case-folded), so uniqueness
/// ignores case and compatibility forms exactly as the other stores do; a conflict is `IdentityError.usernameTaken`.
/// Other failures are `PostgresStoreError`s.
public struct PostgresAccountStore: IterableAccountStore {
    let database: CloakroomPostgresDatabase

    /// Creates the store over an open database.
    public init(database: CloakroomPostgresDatabase) {
        self.database = database
    }

    static let columns = "id, username, password_hash, created_at, disabled"

    public func create(_ account: Account) async throws {
        do {
            try await database.query(
                """
                INSERT INTO cloakroom_accounts (id, username, username_key, password_hash, created_at, disabled)
                VALUES (\(account.id), \(account.username), \(Account.normalize(account.username)),
                    \(account.passwordHash), \(account.createdAt), \(account.disabled))
                """,
                "account create"
            )
        } catch let error as PostgresStoreError where error.isUniqueViolation {
            throw IdentityError.usernameTaken()
        }
    }

    public func account(username: String) async throws -> Account? {
        let keys = Account.lookupKeys(username)
        // The current key wins over a legacy one.
        return try await database.query(
            """
            SELECT \(unescaped: Self.columns) FROM cloakroom_accounts WHERE username_key = ANY(\(keys))
            ORDER BY username_key = \(keys[0]) DESC LIMIT 1
            """,
            "account lookup"
        ).first.map(Self.account(from:))
    }

    public func account(id: String) async throws -> Account? {
        try await database.execute(ByID(id: id), "account lookup").first.map(Self.account(from:))
    }

    public func updatePasswordHash(id: String, hash: String) async throws {
        try await database.query("UPDATE cloakroom_accounts SET password_hash = \(hash) WHERE id = \(id)", "password update")
    }

    public func setDisabled(id: String, _ disabled: Bool) async throws {
        try await database.query("UPDATE cloakroom_accounts SET disabled = \(disabled) WHERE id = \(id)", "account update")
    }

    public func delete(id: String) async throws -> Bool {
        !(try await database.query("DELETE FROM cloakroom_accounts WHERE id = \(id) RETURNING id", "account delete")).isEmpty
    }

    public func all() async throws -> [Account] {
        try await database.query("SELECT \(unescaped: Self.columns) FROM cloakroom_accounts ORDER BY username_key", "account listing")
            .map(Self.account(from:))
    }

    private static func account(from row: PostgresRow) throws -> Account {
        do {
            let (id, username, hash, created, disabled) = try row.decode((String, String, String, Date, Bool).self)
            return Account(id: id, username: username, passwordHash: hash, createdAt: created, disabled: disabled)
        } catch {
            throw PostgresStoreError("malformed account row")
        }
    }
}

extension PostgresAccountStore {
    /// Read on every signed-in request: kept prepared.
    struct ByID: KeptStatement {
        static let name = "cloakroom_account_by_id"
        static let sql = "SELECT \(PostgresAccountStore.columns) FROM cloakroom_accounts WHERE id = $1"
        var bindings = PostgresBindings(capacity: 1)

        init(id: String) {
            bindings.append(id)
        }
    }
}

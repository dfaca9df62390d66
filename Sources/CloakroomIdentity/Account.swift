public import Foundation

/// A person who can sign in.
public struct Account: Sendable, Codable, Equatable {
    /// Stable identifier (a UUID string); sessions refer to it, never to the username.
    public var id: String
    /// The sign-in name, unique ignoring case; a username or an email address.
    public var username: String
    /// The encoded password hash (`PasswordHasher` format, parameters included).
    public var passwordHash: String
    /// When the account was created.
    public var createdAt: Date
    /// A disabled account cannot sign in and has no sessions.
    public var disabled: Bool

    /// Creates an account value.
    public init(id: String = UUID().uuidString.lowercased(), username: String, passwordHash: String, createdAt: Date, disabled: Bool = false) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.disabled = disabled
    }
}

/// Durable account records: SQLite or PostgreSQL in production, memory in tests.
///
/// Usernames are unique ignoring case (`Account.normalize`); `create` throws
/// `IdentityError.usernameTaken` for a duplicate.
public protocol AccountStore: Sendable {
    /// Adds an account.
    func create(_ account: Account) async throws
    /// The account with this username (any case), or nil.
    func account(username: String) async throws -> Account?
    /// The account with this id, or nil.
    func account(id: String) async throws -> Account?
    /// Replaces the stored password hash.
    func updatePasswordHash(id: String, hash: String) async throws
    /// Disables or enables sign-in.
    func setDisabled(id: String, _ disabled: Bool) async throws
    /// Removes the account; false if there was none.
    func delete(id: String) async throws -> Bool
}

/// The ability to list every account (operator commands such as `cloakroom users list`); an
/// optional ability beside ``AccountStore``, which sign-in does not need.
public protocol IterableAccountStore: AccountStore {
    /// Every account, by username.
    func all() async throws -> [Account]
}

extension Account {
    /// The form usernames are compared in (the stores' `username_key`): trimmed, then NFKC,
    /// full case folding and NFKC again (RFC 8265's case-mapped username profile in spirit), so
    /// `émile` typed precomposed or with a combining accent, `ＡＬＩＣＥ` in full-width letters and
    /// `Straße`/`STRASSE` each name one account.
    public static func normalize(_ username: String) -> String {
        username.trimmingCharacters(in: .whitespacesAndNewlines)
            .precomposedStringWithCompatibilityMapping
            .folding(options: [.caseInsensitive], locale: nil)
            .precomposedStringWithCompatibilityMapping
    }

    /// The key accounts created before NFKC normalisation were stored under (trimmed and
    /// lowercased); lookups try it too, so those accounts still sign in. Equal to
    /// ``normalize(_:)`` for every ASCII name.
    public static func legacyKey(_ username: String) -> String {
        username.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    /// The keys to look a username up by: its key, then its legacy key when that differs.
    public static func lookupKeys(_ username: String) -> [String] {
        let key = normalize(username)
        let legacy = legacyKey(username)
        // Byte comparison: Swift's `==` treats canonically equivalent strings as equal, but the
        // stores compare bytes.
        return key.utf8.elementsEqual(legacy.utf8) ? [key] : [key, legacy]
    }

    /// The form a new username is stored and shown in: trimmed, NFC.
    public static func displayForm(_ username: String) -> String {
        username.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
    }
}

/// Accounts in memory (tests and `--accounts memory`).
public actor MemoryAccountStore: IterableAccountStore {
    private var byID: [String: Account] = [:]

    /// Creates an empty store.
    public init() {}

    public func create(_ account: Account) async throws {
        let name = Account.normalize(account.username)
        if byID.values.contains(where: { Account.normalize($0.username) == name }) { throw IdentityError.usernameTaken() }
        byID[account.id] = account
    }

    public func account(username: String) async throws -> Account? {
        let name = Account.normalize(username)
        return byID.values.first { Account.normalize($0.username) == name }
    }

    public func account(id: String) async throws -> Account? { byID[id] }

    public func updatePasswordHash(id: String, hash: String) async throws { byID[id]?.passwordHash = hash }

    public func setDisabled(id: String, _ disabled: Bool) async throws { byID[id]?.disabled = disabled }

    public func delete(id: String) async throws -> Bool { byID.removeValue(forKey: id) != nil }

    public func all() async throws -> [Account] { byID.values.sorted { $0.username < $1.username } }
}

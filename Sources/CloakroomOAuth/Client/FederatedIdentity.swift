import CloakroomCore
public import Foundation

/// A local account's link to an account at another OpenID provider: the provider's name here and
/// the `sub` it gave (stable and unique per provider, OpenID Connect Core §5.7). Accounts are linked
/// by `sub` only, never by an email address.
public struct FederatedIdentity: Sendable, Hashable {
    public var provider: String
    public var subject: String
    public var userID: String
    public var linkedAt: Date

    public init(provider: String, subject: String, userID: String, linkedAt: Date) {
        self.provider = provider
        self.subject = subject
        self.userID = userID
        self.linkedAt = linkedAt
    }
}

/// Where the links live: beside the accounts (memory, SQLite, PostgreSQL).
/// `FederatedIdentityStoreConformance` (CloakroomTesting) states the behaviour.
public protocol FederatedIdentityStore: Sendable {
    /// Links an identity; `StoreError.duplicateKey` when that provider's subject is linked already.
    func link(_ identity: FederatedIdentity) async throws
    /// The link of a provider's subject, or nil.
    func identity(provider: String, subject: String) async throws -> FederatedIdentity?
    /// Every link of a local account, oldest first.
    func identities(ofUser userID: String) async throws -> [FederatedIdentity]
    /// Removes the account's link to `provider`; false when there was none.
    func unlink(provider: String, userID: String) async throws -> Bool
}

/// Links in memory, for tests and `--accounts memory`.
public actor MemoryFederatedIdentityStore: FederatedIdentityStore {
    struct Key: Hashable {
        let provider: String
        let subject: String
    }
    var links: [Key: FederatedIdentity] = [:]

    public init() {}

    public func link(_ identity: FederatedIdentity) async throws {
        let key = Key(provider: identity.provider, subject: identity.subject)
        guard links[key] == nil else { throw StoreError.duplicateKey() }
        links[key] = identity
    }

    public func identity(provider: String, subject: String) async throws -> FederatedIdentity? {
        links[Key(provider: provider, subject: subject)]
    }

    public func identities(ofUser userID: String) async throws -> [FederatedIdentity] {
        links.values.filter { $0.userID == userID }.sorted { ($0.linkedAt, $0.provider) < ($1.linkedAt, $1.provider) }
    }

    public func unlink(provider: String, userID: String) async throws -> Bool {
        let keys = links.filter { $0.key.provider == provider && $0.value.userID == userID }.map(\.key)
        for key in keys { links.removeValue(forKey: key) }
        return !keys.isEmpty
    }
}

import CloakroomCore
import Foundation

/// Where registered OAuth clients live: beside the accounts (memory, SQLite, PostgreSQL), so every
/// node of a cluster agrees on them.
///
/// The contract (checked by `OAuthClientStoreConformance` in CloakroomTesting): `insert` refuses an
/// ID in use with `StoreError.duplicateKey`; `client(id:)` is nil for an unknown ID; `update`
/// replaces every field of an existing client and says whether there was one; `delete` says
/// whether there was one; `all` lists every client, oldest first. Errors are for a store that failed.
public protocol OAuthClientStore: Sendable {
    func insert(_ client: OAuthClient) async throws
    func client(id: String) async throws -> OAuthClient?
    func update(_ client: OAuthClient) async throws -> Bool
    func delete(id: String) async throws -> Bool
    func all() async throws -> [OAuthClient]
}

/// Clients in this process only: for tests and `--accounts memory`.
public actor MemoryOAuthClientStore: OAuthClientStore {
    private var clients: [String: OAuthClient] = [:]

    public init() {}

    public func insert(_ client: OAuthClient) async throws {
        guard clients[client.id] == nil else { throw StoreError.duplicateKey() }
        clients[client.id] = client
    }

    public func client(id: String) async throws -> OAuthClient? { clients[id] }

    public func update(_ client: OAuthClient) async throws -> Bool {
        guard clients[client.id] != nil else { return false }
        clients[client.id] = client
        return true
    }

    public func delete(id: String) async throws -> Bool {
        clients.removeValue(forKey: id) != nil
    }

    public func all() async throws -> [OAuthClient] {
        clients.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }
}

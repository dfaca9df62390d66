public import Foundation

/// What a user allowed one client: the scopes approved on the consent page, and when. A later
/// request for scopes within these skips the page (unless the client asks `prompt=consent`); one
/// for more shows it again, naming only what is new.
public struct Consent: Sendable, Hashable {
    public var userID: String
    public var clientID: String
    public var scope: Scope
    public var grantedAt: Date

    public init(userID: String, clientID: String, scope: Scope, grantedAt: Date) {
        self.userID = userID
        self.clientID = clientID
        self.scope = scope
        self.grantedAt = grantedAt
    }
}

/// Where consents are kept: beside the accounts (memory, SQLite, PostgreSQL), so every node of a
/// cluster agrees. `ConsentStoreConformance` (CloakroomTesting) states the behaviour.
public protocol ConsentStore: Sendable {
    /// The user's consent to `clientID`, or nil.
    func consent(userID: String, clientID: String) async throws -> Consent?
    /// Stores `consent`, replacing the user's earlier consent to that client.
    func record(_ consent: Consent) async throws
    /// Withdraws the user's consent to `clientID`; false when there was none.
    func revoke(userID: String, clientID: String) async throws -> Bool
    /// Every consent of the user, most recent first.
    func consents(ofUser userID: String) async throws -> [Consent]
    /// Withdraws every consent to `clientID` (the client was removed); how many there were.
    func revokeAll(clientID: String) async throws -> Int
}

/// Consents in memory, for tests and `--accounts memory`.
public actor MemoryConsentStore: ConsentStore {
    struct Key: Hashable {
        let userID: String
        let clientID: String
    }
    var consents: [Key: Consent] = [:]

    public init() {}

    public func consent(userID: String, clientID: String) async throws -> Consent? {
        consents[Key(userID: userID, clientID: clientID)]
    }

    public func record(_ consent: Consent) async throws {
        consents[Key(userID: consent.userID, clientID: consent.clientID)] = consent
    }

    public func revoke(userID: String, clientID: String) async throws -> Bool {
        consents.removeValue(forKey: Key(userID: userID, clientID: clientID)) != nil
    }

    public func consents(ofUser userID: String) async throws -> [Consent] {
        consents.values.filter { $0.userID == userID }.sorted { ($0.grantedAt, $0.clientID) > ($1.grantedAt, $1.clientID) }
    }

    public func revokeAll(clientID: String) async throws -> Int {
        let keys = consents.keys.filter { $0.clientID == clientID }
        for key in keys { consents.removeValue(forKey: key) }
        return keys.count
    }
}

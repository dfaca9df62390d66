import CloakroomCore
public import Foundation

/// Token state in this process's memory: for one server and for tests. Lost on restart (every
/// refresh token then stops working, which is safe).
public actor MemoryTokenStore: TokenStore {
    private var tokens: [String: RefreshTokenRecord] = [:]
    private var families: [String: Set<String>] = [:]
    private var userFamilies: [String: Set<String>] = [:]
    private var epochs: [String: (epoch: Int, until: Date)] = [:]
    private var denied: [String: Date] = [:]

    public init() {}

    public func insertRefreshToken(_ record: RefreshTokenRecord) throws {
        guard tokens[record.key] == nil else { throw StoreError.duplicateKey() }
        store(record)
    }

    public func refreshToken(key: String, now: Date) -> RefreshTokenRecord? {
        guard let record = tokens[key], record.expiresAt > now else { return nil }
        return record
    }

    public func rotateRefreshToken(key: String, newKey: String, now: Date, lifetime: TimeInterval) throws -> RefreshRotation {
        guard var record = tokens[key], record.expiresAt > now else { return .invalid }
        if record.usedAt != nil {
            removeFamily(record.familyID)
            return .reused(record)
        }
        guard tokens[newKey] == nil else { throw StoreError.duplicateKey() }
        record.usedAt = now
        tokens[key] = record
        let successor = record.successor(key: newKey, now: now, lifetime: lifetime)
        store(successor)
        return .rotated(successor: successor)
    }

    public func revokeFamily(_ familyID: String) -> Int {
        removeFamily(familyID)
    }

    public func revokeRefreshTokens(forUser userID: String) -> Int {
        var removed = 0
        for family in userFamilies[userID] ?? [] {
            removed += removeFamily(family)
        }
        return removed
    }

    public func refreshTokens(forUser userID: String, now: Date) -> [RefreshTokenRecord] {
        (userFamilies[userID] ?? []).flatMap { families[$0] ?? [] }.compactMap { tokens[$0] }
            .filter { $0.userID == userID && $0.expiresAt > now }
    }

    public func raiseEpoch(forUser userID: String, to epoch: Int, keepUntil: Date) {
        let stored = epochs[userID]
        epochs[userID] = (max(stored?.epoch ?? 0, epoch), max(stored?.until ?? keepUntil, keepUntil))
    }

    public func denyTokenID(_ tokenID: String, until: Date) {
        denied[tokenID] = max(denied[tokenID] ?? until, until)
    }

    public func revocationState(userID: String, tokenID: String, sessionID: String?, now: Date) -> RevocationState {
        let epoch = epochs[userID].flatMap { $0.until > now ? $0.epoch : nil } ?? 0
        let isDenied = denied[tokenID].map { $0 > now } ?? false
        let sessionDenied = sessionID.flatMap { denied[RevocationState.deniedID(sessionID: $0)] }.map { $0 > now } ?? false
        return RevocationState(epoch: epoch, denied: isDenied, sessionDenied: sessionDenied)
    }

    /// Scans for expired records (O(n) per call: the memory store is for one server and tests).
    public func deleteExpired(now: Date, limit: Int) -> Int {
        let expiredTokens = tokens.lazy.filter { $0.value.expiresAt <= now }.prefix(limit).map(\.value)
        var removed = 0
        for record in Array(expiredTokens) {
            unlink(record)
            tokens[record.key] = nil
            removed += 1
        }
        for user in Array(epochs.lazy.filter { $0.value.until <= now }.prefix(limit - removed).map(\.key)) {
            epochs[user] = nil
            removed += 1
        }
        for id in Array(denied.lazy.filter { $0.value <= now }.prefix(limit - removed).map(\.key)) {
            denied[id] = nil
            removed += 1
        }
        return removed
    }

    private func store(_ record: RefreshTokenRecord) {
        tokens[record.key] = record
        families[record.familyID, default: []].insert(record.key)
        userFamilies[record.userID, default: []].insert(record.familyID)
    }

    private func unlink(_ record: RefreshTokenRecord) {
        families[record.familyID]?.remove(record.key)
        if families[record.familyID]?.isEmpty == true {
            families[record.familyID] = nil
            userFamilies[record.userID]?.remove(record.familyID)
            if userFamilies[record.userID]?.isEmpty == true { userFamilies[record.userID] = nil }
        }
    }

    @discardableResult
    private func removeFamily(_ familyID: String) -> Int {
        guard let keys = families.removeValue(forKey: familyID) else { return 0 }
        var userID: String?
        for key in keys {
            userID = tokens.removeValue(forKey: key)?.userID ?? userID
        }
        if let userID {
            userFamilies[userID]?.remove(familyID)
            if userFamilies[userID]?.isEmpty == true { userFamilies[userID] = nil }
        }
        return keys.count
    }
}

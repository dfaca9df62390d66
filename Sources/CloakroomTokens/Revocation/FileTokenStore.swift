import CloakroomCore
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Token state as files in the store folder (`--store file:DIR`), beside the `FileSessionStore`:
///
/// - `tokens/refresh/<key>.json`: one refresh token, named by its hashed key;
/// - `tokens/families/<sha256(familyID)>/<key>`: empty marker files, the family index;
/// - `tokens/users/<sha256(userID)>/<sha256(familyID)>`: empty marker files, the user's families;
/// - `tokens/epochs/<sha256(userID)>.json` and `tokens/denied/<sha256(jti)>.json` (a denied sign-in
///   is `tokens/denied/<sha256("sid:" + familyID)>.json`).
///
/// Every write is temporary file → `fsync` → `rename`, so readers (which take no lock) see the old
/// or the new file, never half of one. Every read-modify-write holds an exclusive `flock` on
/// `tokens/store.lock` for its duration, and each call opens its own descriptor, so several server
/// processes on one folder (and concurrent calls in one process) exclude each other. Per-family and
/// per-user operations read only their index folder, never the whole store. Times are stored in
/// milliseconds.
public struct FileTokenStore: TokenStore {
    /// The store folder (`tokens/` lives inside it).
    public let directory: URL
    private let refresh: URL
    private let families: URL
    private let users: URL
    private let epochs: URL
    private let denied: URL
    private let lockPath: String

    /// Opens (creating if needed) `directory/tokens` and its subfolders.
    public init(directory: URL) throws {
        self.directory = directory
        let root = directory.appendingPathComponent("tokens", isDirectory: true)
        self.refresh = root.appendingPathComponent("refresh", isDirectory: true)
        self.families = root.appendingPathComponent("families", isDirectory: true)
        self.users = root.appendingPathComponent("users", isDirectory: true)
        self.epochs = root.appendingPathComponent("epochs", isDirectory: true)
        self.denied = root.appendingPathComponent("denied", isDirectory: true)
        self.lockPath = root.appendingPathComponent("store.lock").path
        do {
            for folder in [refresh, families, users, epochs, denied] {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            }
        } catch {
            throw StoreError.unavailable("cannot create token folder \(root.path): \(error.localizedDescription)")
        }
    }

    public func insertRefreshToken(_ record: RefreshTokenRecord) async throws {
        try locked {
            guard try readToken(key: record.key) == nil else { throw StoreError.duplicateKey() }
            try store(record)
        }
    }

    public func refreshToken(key: String, now: Date) async throws -> RefreshTokenRecord? {
        guard let record = try readToken(key: key), record.expiresAt > now else { return nil }
        return record
    }

    public func rotateRefreshToken(key: String, newKey: String, now: Date, lifetime: TimeInterval) async throws -> RefreshRotation {
        try locked {
            guard var record = try readToken(key: key), record.expiresAt > now else { return .invalid }
            if record.usedAt != nil {
                _ = try removeFamily(hash: SecureToken.hash(record.familyID))
                return .reused(record)
            }
            guard try readToken(key: newKey) == nil else { throw StoreError.duplicateKey() }
            let successor = record.successor(key: newKey, now: now, lifetime: lifetime)
            // Mark the old token used before storing its successor: a crash in between leaves a
            // used token without a successor (its next use ends the family), never two live tokens.
            record.usedAt = now
            try saveToken(record)
            try store(successor)
            return .rotated(successor: successor)
        }
    }

    public func revokeFamily(_ familyID: String) async throws -> Int {
        try locked { try removeFamily(hash: SecureToken.hash(familyID)) }
    }

    public func revokeRefreshTokens(forUser userID: String) async throws -> Int {
        try locked {
            let folder = users.appendingPathComponent(SecureToken.hash(userID), isDirectory: true)
            var removed = 0
            for family in names(in: folder) {
                removed += try removeFamily(hash: family)
                unlink(folder.appendingPathComponent(family).path)
            }
            rmdir(folder.path)
            return removed
        }
    }

    public func refreshTokens(forUser userID: String, now: Date) async throws -> [RefreshTokenRecord] {
        try locked {
            let folder = users.appendingPathComponent(SecureToken.hash(userID), isDirectory: true)
            var records: [RefreshTokenRecord] = []
            for family in names(in: folder) {
                for key in names(in: families.appendingPathComponent(family, isDirectory: true)) {
                    if let record = try readToken(key: key), record.userID == userID, record.expiresAt > now { records.append(record) }
                }
            }
            return records
        }
    }

    public func raiseEpoch(forUser userID: String, to epoch: Int, keepUntil: Date) async throws {
        let file = epochs.appendingPathComponent(SecureToken.hash(userID) + ".json")
        try locked {
            var stored = try read(StoredEpoch.self, file) ?? StoredEpoch(epoch: epoch, keepUntil: Self.ms(keepUntil))
            stored.epoch = max(stored.epoch, epoch)
            stored.keepUntil = max(stored.keepUntil, Self.ms(keepUntil))
            try save(stored, to: file)
        }
    }

    public func denyTokenID(_ tokenID: String, until: Date) async throws {
        let file = deniedFile(tokenID)
        try locked {
            let stored = try read(StoredDenial.self, file)
            try save(StoredDenial(until: max(stored?.until ?? Self.ms(until), Self.ms(until))), to: file)
        }
    }

    public func revocationState(userID: String, tokenID: String, sessionID: String?, now: Date) async throws -> RevocationState {
        let nowMs = Self.ms(now)
        let epoch = try read(StoredEpoch.self, epochs.appendingPathComponent(SecureToken.hash(userID) + ".json"))
        let denial = try read(StoredDenial.self, deniedFile(tokenID))
        let sessionDenial = try sessionID.flatMap { try read(StoredDenial.self, deniedFile(RevocationState.deniedID(sessionID: $0))) }
        return RevocationState(
            epoch: epoch.flatMap { $0.keepUntil > nowMs ? $0.epoch : nil } ?? 0,
            denied: denial.map { $0.until > nowMs } ?? false,
            sessionDenied: sessionDenial.map { $0.until > nowMs } ?? false
        )
    }

    /// Reads each file without the lock and takes the lock only to remove an expired one (checked
    /// again under the lock), so a sweep never blocks readers and holds the lock briefly.
    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        let nowMs = Self.ms(now)
        var removed = 0
        for key in names(in: refresh, suffix: ".json") {
            guard removed < limit else { return removed }
            guard let record = try? readToken(key: key), record.expiresAt <= now else { continue }
            removed += try locked {
                guard let record = try readToken(key: key), record.expiresAt <= now else { return 0 }
                try removeToken(record)
                return 1
            }
        }
        for name in names(in: epochs, suffix: ".json") {
            guard removed < limit else { return removed }
            let file = epochs.appendingPathComponent(name + ".json")
            guard let stored = try? read(StoredEpoch.self, file), stored.keepUntil <= nowMs else { continue }
            removed += try locked { try removeIfExpired(StoredEpoch.self, file, nowMs) { $0.keepUntil } }
        }
        for name in names(in: denied, suffix: ".json") {
            guard removed < limit else { return removed }
            let file = denied.appendingPathComponent(name + ".json")
            guard let stored = try? read(StoredDenial.self, file), stored.until <= nowMs else { continue }
            removed += try locked { try removeIfExpired(StoredDenial.self, file, nowMs) { $0.until } }
        }
        return removed
    }

    // MARK: - Records and indexes (callers hold the lock for every change)

    /// Writes the index markers first, then the token, so a token file never exists unindexed.
    private func store(_ record: RefreshTokenRecord) throws {
        let family = SecureToken.hash(record.familyID)
        try mark(users.appendingPathComponent(SecureToken.hash(record.userID), isDirectory: true), family)
        try mark(families.appendingPathComponent(family, isDirectory: true), record.key)
        try saveToken(record)
    }

    /// Removes one token and its marker; drops the family (and its entry in the user's index)
    /// once its last token is gone.
    private func removeToken(_ record: RefreshTokenRecord) throws {
        unlink(try tokenFile(record.key).path)
        let family = SecureToken.hash(record.familyID)
        let folder = families.appendingPathComponent(family, isDirectory: true)
        unlink(folder.appendingPathComponent(record.key).path)
        if rmdir(folder.path) == 0 || !FileManager.default.fileExists(atPath: folder.path) {
            let user = users.appendingPathComponent(SecureToken.hash(record.userID), isDirectory: true)
            unlink(user.appendingPathComponent(family).path)
            rmdir(user.path)  // only succeeds when empty
        }
    }

    /// Removes every token of the family whose hashed ID is `hash`; returns how many token files existed.
    private func removeFamily(hash: String) throws -> Int {
        let folder = families.appendingPathComponent(hash, isDirectory: true)
        var removed = 0
        var userID: String?
        for key in names(in: folder) {
            if let record = try readToken(key: key) {
                userID = record.userID
                unlink(try tokenFile(key).path)
                removed += 1
            }
            unlink(folder.appendingPathComponent(key).path)
        }
        rmdir(folder.path)
        if let userID {
            let user = users.appendingPathComponent(SecureToken.hash(userID), isDirectory: true)
            unlink(user.appendingPathComponent(hash).path)
            rmdir(user.path)
        }
        return removed
    }

    private func removeIfExpired<T: Decodable>(_ type: T.Type, _ file: URL, _ nowMs: Int64, expiry: (T) -> Int64) throws -> Int {
        guard let stored = try read(type, file), expiry(stored) <= nowMs else { return 0 }
        unlink(file.path)
        return 1
    }

    // MARK: - Files

    private struct StoredToken: Codable {
        var key, family, user, client, scope: String
        var issued, expires, familyExpires: Int64
        var used: Int64?
    }

    private struct StoredEpoch: Codable {
        var epoch: Int
        var keepUntil: Int64
    }

    private struct StoredDenial: Codable {
        var until: Int64
    }

    private static func ms(_ date: Date) -> Int64 { date.storedMilliseconds }
    private static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

    /// The deny-list file of a `jti` (or of a sign-in's ``RevocationState/deniedID(sessionID:)``).
    private func deniedFile(_ id: String) -> URL {
        denied.appendingPathComponent(SecureToken.hash(id) + ".json")
    }

    private func tokenFile(_ key: String) throws -> URL {
        // Keys are SHA-256 hex; anything else could escape the folder.
        guard key.utf8.count == 64, key.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw StoreError.unavailable("refresh token key is not a SHA-256 hex digest")
        }
        return refresh.appendingPathComponent(key + ".json")
    }

    private func readToken(key: String) throws -> RefreshTokenRecord? {
        guard let stored = try read(StoredToken.self, try tokenFile(key)) else { return nil }
        return RefreshTokenRecord(
            key: stored.key,
            familyID: stored.family,
            userID: stored.user,
            clientID: stored.client,
            scope: stored.scope,
            issuedAt: Self.date(stored.issued),
            expiresAt: Self.date(stored.expires),
            familyExpiresAt: Self.date(stored.familyExpires),
            usedAt: stored.used.map(Self.date)
        )
    }

    private func saveToken(_ record: RefreshTokenRecord) throws {
        let stored = StoredToken(
            key: record.key,
            family: record.familyID,
            user: record.userID,
            client: record.clientID,
            scope: record.scope,
            issued: Self.ms(record.issuedAt),
            expires: Self.ms(record.expiresAt),
            familyExpires: Self.ms(record.familyExpiresAt),
            used: record.usedAt.map(Self.ms)
        )
        try save(stored, to: try tokenFile(record.key))
    }

    private func read<T: Decodable>(_ type: T.Type, _ file: URL) throws -> T? {
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw StoreError.unavailable("token file \(file.lastPathComponent) is corrupt")
        }
    }

    /// Temporary file in the same folder → `fsync` → `rename` over the target.
    private func save<T: Encodable>(_ value: T, to target: URL) throws {
        let bytes: Data
        do {
            bytes = try JSONEncoder().encode(value)
        } catch {
            throw StoreError.unavailable("cannot encode token file: \(error)")
        }
        let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw StoreError.unavailable("cannot write token file: errno \(errno)") }
        var ok = bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return true }
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, base + offset, buffer.count - offset)
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = fsync(fd) == 0 && ok
        close(fd)
        guard ok, rename(temporary.path, target.path) == 0 else {
            let failure = errno
            unlink(temporary.path)
            throw StoreError.unavailable("cannot write token file: errno \(failure)")
        }
    }

    /// Creates the empty marker `folder/name` (and the folder).
    private func mark(_ folder: URL, _ name: String) throws {
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let fd = open(folder.appendingPathComponent(name).path, O_WRONLY | O_CREAT, 0o600)
        guard fd >= 0 else { throw StoreError.unavailable("cannot write token index: errno \(errno)") }
        close(fd)
    }

    /// File names in `folder` (without `suffix`), skipping temporary files.
    private func names(in folder: URL, suffix: String = "") -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.compactMap { name in
            guard !name.hasPrefix("."), name.hasSuffix(suffix) else { return nil }
            return String(name.dropLast(suffix.count))
        }
    }

    /// Runs `body` holding the exclusive `flock` on `tokens/store.lock` (other processes wait).
    private func locked<T>(_ body: () throws -> T) throws -> T {
        let fd = open(lockPath, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else { throw StoreError.unavailable("cannot open \(lockPath): errno \(errno)") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw StoreError.unavailable("cannot lock \(lockPath): errno \(errno)") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

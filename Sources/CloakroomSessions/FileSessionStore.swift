import CloakroomCore
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sessions as files in one folder: `sessions/<key>.json`, one file per session named by its
/// hashed key, and `users/<sha256(userID)>/<key>` marker files for the per-user index.
///
/// - Writes are atomic: a temporary file in the same folder is written, `fsync`ed, then
///   `rename`d over the old one, so a reader sees the old or the new record, never half of one.
/// - Safe for several server processes on the same folder: every read-modify-write
///   (insert, compare-and-swap update, touch, delete) holds an exclusive `flock` on `store.lock`
///   for its duration. Each call opens its own descriptor, so calls within one process exclude
///   each other the same way. Reads take no lock (a rename is atomic), so a sweep never blocks them.
/// - Expired files linger until `deleteExpired` removes them; `load` never returns them.
public struct FileSessionStore: CompleteSessionStore {
    /// The folder.
    public let directory: URL
    private let sessions: URL
    private let users: URL
    private let lockPath: String

    /// Opens (creating if needed) the store folder.
    public init(directory: URL) throws {
        self.directory = directory
        self.sessions = directory.appendingPathComponent("sessions", isDirectory: true)
        self.users = directory.appendingPathComponent("users", isDirectory: true)
        self.lockPath = directory.appendingPathComponent("store.lock").path
        do {
            try FileManager.default.createDirectory(at: sessions, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: users, withIntermediateDirectories: true)
        } catch {
            throw StoreError.unavailable("cannot create session folder \(directory.path): \(error.localizedDescription)")
        }
    }

    public func load(key: String, now: Date) async throws -> SessionRecord? {
        guard let record = try read(key: key), !record.isExpired(at: now) else { return nil }
        return record
    }

    public func insert(_ record: SessionRecord) async throws {
        try locked {
            guard try read(key: record.key) == nil else { throw StoreError.duplicateKey() }
            try write(record)
            try index(record)
        }
    }

    public func update(_ record: SessionRecord, expectedVersion: Int) async throws -> Bool {
        try locked {
            guard let existing = try read(key: record.key), existing.version == expectedVersion else { return false }
            try write(record)
            if existing.userID != record.userID {
                unindex(existing)
                try index(record)
            }
            return true
        }
    }

    public func touch(key: String, lastSeen: Date, idleExpiresAt: Date) async throws {
        try locked {
            guard var record = try read(key: key) else { return }
            record.lastSeen = lastSeen
            record.idleExpiresAt = idleExpiresAt
            try write(record)
        }
    }

    public func delete(key: String) async throws {
        try locked {
            guard let existing = try read(key: key) else { return }
            try remove(existing)
        }
    }

    public func records(forUser userID: String, now: Date) async throws -> [SessionRecord] {
        try keys(in: userFolder(userID)).compactMap { try read(key: $0) }.filter { !$0.isExpired(at: now) }
    }

    public func deleteAll(forUser userID: String, exceptKey: String?) async throws -> Int {
        try locked {
            var removed = 0
            for key in try keys(in: userFolder(userID)) where key != exceptKey {
                if let record = try read(key: key) {
                    try remove(record)
                    removed += 1
                }
            }
            return removed
        }
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        var removed = 0
        for key in try keys(in: sessions) {
            guard removed < limit else { break }
            try locked {
                if let record = try read(key: key), record.isExpired(at: now) {
                    try remove(record)
                    removed += 1
                }
            }
        }
        return removed
    }

    public func list(now: Date, afterKey: String?, limit: Int) async throws -> [SessionRecord] {
        var out: [SessionRecord] = []
        for key in try keys(in: sessions).sorted() where afterKey.map({ key > $0 }) ?? true {
            if let record = try read(key: key), !record.isExpired(at: now) {
                out.append(record)
                if out.count >= limit { break }
            }
        }
        return out
    }

    public func ping() async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: sessions.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StoreError.unavailable("session folder \(sessions.path) is missing")
        }
    }

    // MARK: - Files

    private func path(_ key: String) throws -> URL {
        // Keys are SHA-256 hex; anything else could escape the folder.
        guard key.count == 64, key.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw StoreError.unavailable("session key is not a SHA-256 hex digest")
        }
        return sessions.appendingPathComponent(key + ".json")
    }

    private func userFolder(_ userID: String) -> URL {
        users.appendingPathComponent(SecureToken.hash(userID), isDirectory: true)
    }

    private func read(key: String) throws -> SessionRecord? {
        let file = try path(key)
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        do {
            return try SessionRecord.decode(data)
        } catch {
            throw StoreError.unavailable("session file is corrupt")
        }
    }

    private func write(_ record: SessionRecord) throws {
        let target = try path(record.key)
        let temporary = sessions.appendingPathComponent(".\(record.key).\(UUID().uuidString).tmp")
        let bytes = try record.encoded()
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw StoreError.unavailable("cannot write session file: errno \(errno)") }
        var ok = bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary.path, target.path) == 0 else {
            unlink(temporary.path)
            throw StoreError.unavailable("cannot write session file: errno \(errno)")
        }
    }

    private func index(_ record: SessionRecord) throws {
        guard let user = record.userID else { return }
        let folder = userFolder(user)
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let marker = folder.appendingPathComponent(record.key)
        let fd = open(marker.path, O_WRONLY | O_CREAT, 0o600)
        guard fd >= 0 else { throw StoreError.unavailable("cannot write user index: errno \(errno)") }
        close(fd)
    }

    private func unindex(_ record: SessionRecord) {
        guard let user = record.userID else { return }
        let folder = userFolder(user)
        unlink(folder.appendingPathComponent(record.key).path)
        rmdir(folder.path)  // only succeeds when empty
    }

    private func remove(_ record: SessionRecord) throws {
        unlink(try path(record.key).path)
        unindex(record)
    }

    private func keys(in folder: URL) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.compactMap { name in
            if name.hasPrefix(".") { return nil }
            return name.hasSuffix(".json") ? String(name.dropLast(5)) : name
        }
    }

    /// Runs `body` holding the folder's exclusive `flock` (other processes wait).
    private func locked<T>(_ body: () throws -> T) throws -> T {
        let fd = open(lockPath, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else { throw StoreError.unavailable("cannot open \(lockPath): errno \(errno)") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw StoreError.unavailable("cannot lock \(lockPath): errno \(errno)") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

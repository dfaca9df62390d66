import CloakroomCore
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sign-in failure counters as files beside a `FileSessionStore` (`throttle/<sha256(key)>.json`),
/// updated under an exclusive `flock` so several processes on one folder count together.
public actor FileThrottleStore: ThrottleStore {
    private let folder: URL
    private let lockPath: String

    /// Opens (creating if needed) `directory/throttle`.
    public init(directory: URL) throws {
        self.folder = directory.appendingPathComponent("throttle", isDirectory: true)
        self.lockPath = directory.appendingPathComponent("throttle.lock").path
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    public func recordFailure(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState {
        try locked {
            var state =
                read(key).flatMap { $0.lastFailure.addingTimeInterval(window) > now ? $0 : nil }
                ?? ThrottleState(failures: 0, lastFailure: now)
            state.failures += 1
            state.lastFailure = now
            try write(state, key)
            return state
        }
    }

    public func state(key: String, now: Date, window: TimeInterval) async throws -> ThrottleState? {
        read(key).flatMap { $0.lastFailure.addingTimeInterval(window) > now ? $0 : nil }
    }

    public func reset(key: String) async throws {
        try locked { _ = unlink(file(key).path) }
    }

    /// Removes counters idle since before `cutoff`; returns how many.
    @discardableResult
    public func purge(before cutoff: Date) async throws -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var removed = 0
        try locked {
            for name in names where name.hasSuffix(".json") {
                let url = folder.appendingPathComponent(name)
                if let data = FileManager.default.contents(atPath: url.path),
                    let state = try? JSONDecoder().decode(ThrottleState.self, from: data), state.lastFailure < cutoff
                {
                    unlink(url.path)
                    removed += 1
                }
            }
        }
        return removed
    }

    private func file(_ key: String) -> URL { folder.appendingPathComponent(SecureToken.hash(key) + ".json") }

    private func read(_ key: String) -> ThrottleState? {
        guard let data = FileManager.default.contents(atPath: file(key).path) else { return nil }
        return try? JSONDecoder().decode(ThrottleState.self, from: data)
    }

    private func write(_ state: ThrottleState, _ key: String) throws {
        let data = try JSONEncoder().encode(state)
        try data.write(to: file(key), options: .atomic)
    }

    private func locked<T>(_ body: () throws -> T) throws -> T {
        let fd = open(lockPath, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else { throw IdentityError.busy() }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

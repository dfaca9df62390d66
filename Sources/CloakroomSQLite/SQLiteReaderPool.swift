import Synchronization

/// Read-only connections to one SQLite file, checked out one per read.
///
/// A read takes an idle connection (or opens one when every connection is busy: no more open than
/// threads read at once), runs on the caller's thread and gives it back. Up to ``idleLimit`` idle
/// connections are kept; one given back past that is closed.
final class SQLiteReaderPool: Sendable {
    private struct State {
        var idle: [SQLiteHandle]
        var opened: Int
        var closed = false
    }

    private let state: Mutex<State>
    private let path: String
    /// Idle connections kept at most.
    let idleLimit: Int

    /// Opens `count` connections to `path` at once, so a file that cannot be read fails here.
    init(path: String, opening count: Int, idleLimit: Int = 8) throws {
        self.path = path
        self.idleLimit = max(idleLimit, count)
        var idle: [SQLiteHandle] = []
        for _ in 0..<count { idle.append(try Self.open(path)) }
        state = Mutex(State(idle: idle, opened: count))
    }

    private static func open(_ path: String) throws -> SQLiteHandle {
        let handle = try SQLiteHandle(path: path)
        try handle.execute("PRAGMA query_only = ON")
        return handle
    }

    /// Connections open now, idle or in use.
    var openCount: Int { state.withLock { $0.opened } }

    /// Runs `body` with a connection no other thread uses until it returns.
    func withReader<T>(_ body: (SQLiteHandle) throws -> T) throws -> T {
        let (idle, closed) = state.withLock { state -> (SQLiteHandle?, Bool) in
            if state.closed { return (nil, true) }
            if let handle = state.idle.popLast() { return (handle, false) }
            state.opened += 1
            return (nil, false)
        }
        if closed { throw SQLiteStoreError("SQLite query failed: the database is closed") }
        let handle: SQLiteHandle
        if let idle {
            handle = idle
        } else {
            do {
                handle = try Self.open(path)
            } catch {
                state.withLock { $0.opened -= 1 }
                throw error
            }
        }
        // A connection past the idle limit, or given back after close, is not kept: it closes as
        // its last reference goes.
        defer {
            state.withLock { state in
                if !state.closed, state.idle.count < idleLimit {
                    state.idle.append(handle)
                } else {
                    state.opened -= 1
                }
            }
        }
        return try body(handle)
    }

    /// Closes the idle connections; one in use closes when its read gives it back.
    func close() {
        state.withLock { state in
            state.closed = true
            state.opened -= state.idle.count
            state.idle = []
        }
    }
}

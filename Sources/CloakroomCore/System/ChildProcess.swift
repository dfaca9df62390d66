import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A program started with `posix_spawn` and reaped with `waitpid` on a thread of its own.
///
/// Foundation's `Process` on Linux learns that a child ended through a socket the child
/// inherits, so it never learns it while any process the child started (or any later child that
/// inherited that socket) is still alive: a test that waited for a server to exit could wait
/// forever. `waitpid` on the child's own ID has no such dependency. The child starts with every
/// signal unblocked and at its default action (the test runner blocks some), reads /dev/null and
/// appends its output to a file or discards it.
package final class ChildProcess: Sendable {
    /// Why the program could not be started.
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        package init(_ description: String) { self.description = description }
    }

    /// The child's process ID.
    package let pid: Int32
    private let state = Mutex<State>(State())

    private struct State: ~Copyable {
        var status: Int32?
        var waiting: [CheckedContinuation<Int32, Never>] = []
    }

    /// Starts `arguments[0]` (a path, or a name looked up on PATH).
    /// - Parameters:
    ///   - output: a file the child's standard output and error are appended to (created 0600);
    ///     nil discards them.
    ///   - environment: the child's environment; nil passes this process's.
    ///   - newSession: start the child in a session of its own (no controlling terminal; it
    ///     outlives this process's terminal and a Ctrl-C there).
    ///   - directory: the child's working directory; nil keeps this process's.
    package init(
        _ arguments: [String],
        output: String? = nil,
        environment: [String: String]? = nil,
        newSession: Bool = false,
        directory: String? = nil
    ) throws {
        guard let program = arguments.first, let path = Self.executable(program) else {
            throw Failure("\(arguments.first ?? "?") is not installed (not found on PATH)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process reaches the child: a server started by a test must not
        // hold the test's sockets (a listener, or connections whose close would then never arrive).
        Self.closeOthers(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF, and POSIX_SPAWN_SETSID (glibc 2.26).
        var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= 0x80 }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        // Glibc's module does not export posix_spawn_file_actions_addchdir_np: a shell changes
        // directory and replaces itself with the program.
        let command =
            directory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, path] } ?? [path]
        let argv = (command + arguments.dropFirst()).map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        guard status == 0 else { throw Failure("could not start \(program): \(String(cString: strerror(status)))") }
        self.pid = pid
        let child = pid
        Thread.detachNewThread { [self] in
            var raw: Int32 = 0
            while waitpid(child, &raw, 0) == -1 && errno == EINTR {}
            // Exited normally: the exit code; killed by a signal: 128 + the signal, as a shell says.
            let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            let waiting = self.state.withLock { state -> [CheckedContinuation<Int32, Never>] in
                state.status = code
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume(returning: code) }
        }
    }

    /// Closes every descriptor above 2 in the child: `posix_spawn_file_actions_addclosefrom_np`
    /// (glibc 2.34), found at run time (Glibc's module does not export it); else every descriptor
    /// of this process above 2 is marked close-on-exec first.
    private static func closeOthers(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        #if canImport(Glibc)
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 3) == 0 { return }
        }
        #endif
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in open.compactMap({ Int32($0) }) where descriptor > 2 {
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Whether the child has not been reaped yet (a stopped child is still running).
    package var isRunning: Bool { state.withLock { $0.status == nil } }

    /// The exit status once the child ended (128 + N when signal N killed it); nil before.
    package var exitStatus: Int32? { state.withLock { $0.status } }

    /// Waits until the child ends; its exit status (128 + N when signal N killed it).
    @discardableResult
    package func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Int32? in
                if let status = state.status { return status }
                state.waiting.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Waits until the child ends or `timeout` passes; its exit status, or nil on timeout.
    package func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return exitStatus
    }

    /// Sends `signal` to the child while it has not been reaped (never to a reused process ID).
    package func signal(_ signal: Int32) {
        state.withLock { state in
            if state.status == nil { kill(pid, signal) }
        }
    }

    /// Runs a program to its end; its exit status and its output (through a file: a server it
    /// starts may hold whatever it inherited, so a pipe would not end while that server runs).
    package static func run(
        _ arguments: [String],
        environment: [String: String]? = nil,
        directory: String? = nil
    ) async throws -> (status: Int32, output: String) {
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-run-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: capture) }
        let child = try ChildProcess(arguments, output: capture.path, environment: environment, directory: directory)
        let status = await child.waitForExit()
        let output = (try? String(contentsOf: capture, encoding: .utf8)) ?? ""
        return (status, output)
    }

    /// The full path of `program`: itself when it has a slash, else the first match on PATH
    /// (with /usr/sbin and /sbin added: HAProxy and runuser live there, which a user's PATH may lack).
    package static func executable(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

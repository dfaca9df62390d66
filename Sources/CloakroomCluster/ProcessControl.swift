import CloakroomCore
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starting and signalling the cluster's processes.
public enum ProcessControl {
    /// Starts `arguments[0]` (a path or a name looked up on PATH) in a session of its own, so it
    /// outlives the command that started it and a Ctrl-C in that terminal does not reach it. Its
    /// standard output and error go to `log` (appended); standard input is /dev/null.
    public static func spawnDetached(
        _ arguments: [String],
        log: URL,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Int32 {
        try spawn(arguments, log: log, environment: environment, newSession: true)
    }

    /// Runs a short command to its end (waiting on a thread of its own); its exit status and its
    /// output, which goes through a file: `pg_ctl start` leaves PostgreSQL holding whatever it
    /// inherited, so a pipe would not end while PostgreSQL runs.
    public static func runToEnd(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-cluster-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: capture) }
        let pid = try spawn(arguments, log: capture, environment: ProcessInfo.processInfo.environment, newSession: false)
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
        let output = (try? String(contentsOf: capture, encoding: .utf8)) ?? ""
        // Exited normally: the exit code; killed by a signal: 128 + the signal, as a shell says.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func spawn(_ arguments: [String], log: URL, environment: [String: String], newSession: Bool) throws -> Int32 {
        guard let program = arguments.first, let path = executable(program) else {
            throw ClusterError("\(arguments.first ?? "?") is not installed")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26): a new session, no controlling terminal.
        if newSession { posix_spawnattr_setflags(&attributes, Int16(0x80)) }
        let argv = ([path] + arguments.dropFirst()).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard status == 0 else { throw ClusterError("could not start \(program): \(String(cString: strerror(status)))") }
        return pid
    }

    /// The full path of `program`: itself when it has a slash, else the first match on PATH.
    public static func executable(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        // HAProxy lives in /usr/sbin, which a user's PATH may lack.
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether `pid` runs `program` (by the name of its executable), so a process ID reused by
    /// another program after ours ended is never signalled. A zombie counts as ended.
    public static func isRunning(_ pid: Int32, program: String) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // "PID (comm) STATE ...": comm may hold spaces or parentheses; the state follows the last ')'.
        if let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
            if state == "Z" || state == "X" { return false }
        }
        let name = URL(fileURLWithPath: program).lastPathComponent
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
        let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        // Redis rewrites its argv into one string ("/usr/bin/redis-server 127.0.0.1:6379"), and
        // Debian's redis-server is a link to redis-check-rdb: the command line's first word counts.
        let first = command.split(separator: "\0").first.flatMap { $0.split(separator: " ").first }.map(String.init) ?? ""
        return URL(fileURLWithPath: executable).lastPathComponent.hasPrefix(name) || URL(fileURLWithPath: first).lastPathComponent == name
    }

    /// Whether `pid` is stopped (SIGSTOP).
    public static func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state == "T" || state == "t"
    }

    /// Sends `signal` to `pid`; false when there is no such process.
    @discardableResult
    public static func signal(_ pid: Int32, _ signal: Int32) -> Bool {
        kill(pid, signal) == 0
    }

    /// Sends SIGTERM (after SIGCONT, so a hung process can act on it), waits up to `grace` for the
    /// process to end, then SIGKILL. Returns when it is gone.
    public static func stop(_ pid: Int32, program: String, grace: Duration = .seconds(10)) async {
        guard isRunning(pid, program: program) else { return }
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            reap(pid)
            if !isRunning(pid, program: program) { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        kill(pid, SIGKILL)
        for _ in 0..<100 {
            reap(pid)
            if !isRunning(pid, program: program) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Collects `pid`'s exit status if it is our child and has ended (no zombie left behind).
    public static func reap(_ pid: Int32) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    /// A free port for a Redis Cluster node: its cluster bus listens 10,000 above it, so both must
    /// be free. Drawn from 10000–21999 (bus 20000–31999), below Linux's ephemeral range, where
    /// `freePort()` draws the others, so the two never meet.
    public static func freePort(avoiding taken: [Int]) throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 10_000..<22_000)
            if taken.contains(port) { continue }
            if LoopbackSocket.canBind(port), LoopbackSocket.canBind(port + 10_000) { return port }
        }
        throw ClusterError("no free port pair (P and P+10000) for a Redis Cluster node on 127.0.0.1")
    }

    /// A free TCP port on 127.0.0.1 (the kernel's choice; free when asked).
    public static func freePort() throws -> Int {
        guard let port = LoopbackSocket.freePort() else { throw ClusterError("no free port on 127.0.0.1") }
        return port
    }
}

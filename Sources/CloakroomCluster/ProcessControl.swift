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
        do {
            let (status, output) = try await ChildProcess.run(arguments)
            return (status, output.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch let failure as ChildProcess.Failure {
            throw ClusterError(failure.description)
        }
    }

    static func spawn(_ arguments: [String], log: URL, environment: [String: String], newSession: Bool) throws -> Int32 {
        do {
            return try ChildProcess(arguments, output: log.path, environment: environment, newSession: newSession).pid
        } catch let failure as ChildProcess.Failure {
            throw ClusterError(failure.description)
        }
    }

    /// The full path of `program`: itself when it has a slash, else the first match on PATH
    /// (with /usr/sbin and /sbin: HAProxy lives there, which a user's PATH may lack).
    public static func executable(_ program: String) -> String? {
        ChildProcess.executable(program)
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

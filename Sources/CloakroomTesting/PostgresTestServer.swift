import CloakroomCore
public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL server for tests: its own data directory, port and socket directory.
///
/// `launch()` finds the binaries (`$CLOAKROOM_PG_BINDIR`, `pg_config --bindir`, or
/// `/usr/lib/postgresql/*/bin`), runs `initdb` with trust authentication, starts
/// `postgres -D dir -p PORT -k socketdir -c listen_addresses=127.0.0.1 -c fsync=off` on a free
/// port and creates the `cloakroom` database. PostgreSQL refuses to run as root, so when the test
/// process is root every server command runs as the `postgres` user through `runuser`. Missing
/// binaries are an error with a clear message, never a skip.
///
/// `postgres` runs in the foreground as a child of the test process; readiness is polled with
/// `pg_isready`. `stop()` and `start()` keep the data and the port, for failure tests;
/// `cleanup()` stops the server and deletes everything. A small watchdog process does the same
/// if the test process dies without calling `cleanup()`.
public final class PostgresTestServer: Sendable {
    /// Why the server could not be set up.
    public struct SetupError: Error, CustomStringConvertible {
        /// What went wrong and how to fix it.
        public let description: String
    }

    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The database `launch()` created (`cloakroom`).
    public let databaseName = "cloakroom"
    /// Where the server keeps its data, socket and log.
    public let root: URL
    private let binDirectory: URL
    private let runAs: [String]
    private let watchdog: ChildProcess
    private let running = Mutex<ChildProcess?>(nil)

    /// `postgres://postgres@127.0.0.1:PORT/cloakroom?sslmode=disable`.
    public var url: String { url(database: databaseName) }

    /// The URL of another database on this server.
    public func url(database: String) -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    private var dataDirectory: URL { root.appendingPathComponent("data") }
    private var socketDirectory: URL { root.appendingPathComponent("socket") }
    private var logFile: URL { root.appendingPathComponent("server.log") }

    private init(port: Int, root: URL, binDirectory: URL, runAs: [String], watchdog: ChildProcess) {
        self.port = port
        self.root = root
        self.binDirectory = binDirectory
        self.runAs = runAs
        self.watchdog = watchdog
    }

    /// Creates a data directory, starts the server and creates the `cloakroom` database.
    public static func launch() async throws -> PostgresTestServer {
        let binDirectory = try await findBinaries()
        let runAs = try runAsPrefix()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("socket"), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: root.appendingPathComponent("server.log").path, contents: nil) else {
            throw SetupError(description: "cannot create the PostgreSQL log in \(root.path)")
        }
        if !runAs.isEmpty {
            try await run(["/bin/chown", "-R", "postgres:postgres", root.path], what: "chown of the test data directory")
        }
        let port = try freePort()
        let watchdog = try startWatchdog(root: root, binDirectory: binDirectory, runAs: runAs)
        let server = PostgresTestServer(port: port, root: root, binDirectory: binDirectory, runAs: runAs, watchdog: watchdog)
        do {
            try await server.command(
                "initdb",
                [
                    "-D", server.dataDirectory.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                ],
                what: "initdb"
            )
            try await server.start()
            try await server.createDatabase(server.databaseName)
        } catch {
            await server.cleanup()
            throw error
        }
        return server
    }

    /// Starts the server again on the same port with the same data (after `stop()`), and waits
    /// until it accepts connections.
    ///
    /// `postgres` runs in the foreground as a child of this process (not daemonised by `pg_ctl`),
    /// reaped by `waitpid`, so `stop()` knows exactly when it ended.
    public func start() async throws {
        guard running.withLock({ $0 }) == nil else { return }
        let postgres = binDirectory.appendingPathComponent("postgres").path
        let arguments = [
            postgres, "-D", dataDirectory.path, "-p", "\(port)", "-k", socketDirectory.path,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=300",
        ]
        let process: ChildProcess
        do {
            process = try ChildProcess(runAs + arguments, output: logFile.path, directory: root.path)
        } catch {
            throw SetupError(description: "cannot start \(postgres): \(error)")
        }
        running.withLock { $0 = process }

        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(60))
        let isReady = binDirectory.appendingPathComponent("pg_isready").path
        while true {
            guard process.isRunning else {
                running.withLock { $0 = nil }
                throw SetupError(description: "postgres exited while starting; its log:\n\(self.log())")
            }
            if (try? await Self.run([isReady, "-q", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres"], what: "pg_isready")) != nil {
                return
            }
            guard clock.now < deadline else {
                throw SetupError(description: "postgres did not accept connections within 60 s; its log:\n\(self.log())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Stops the server (fast shutdown: open connections are cut), keeping its data and port.
    public func stop() async throws {
        try await stop(mode: "fast")
    }

    /// Asks the server to stop in `mode` (`pg_ctl stop`, which waits), then waits for the process;
    /// a server that is still there after 30 s (or that `pg_ctl` could not reach) is killed.
    private func stop(mode: String) async throws {
        guard
            let server = running.withLock({ current -> ChildProcess? in
                defer { current = nil }
                return current
            })
        else { return }
        var failure: (any Error)?
        if server.isRunning {
            // A frozen (SIGSTOPped) server acts on nothing until it is continued.
            server.signal(SIGCONT)
            do {
                try await command("pg_ctl", ["-D", dataDirectory.path, "-m", mode, "-w", "-t", "30", "stop"], what: "stopping PostgreSQL")
            } catch {
                failure = error
            }
        }
        if await server.waitForExit(timeout: .seconds(30)) == nil {
            Self.killServer(server, dataDirectory: dataDirectory)
            await server.waitForExit()
        }
        if let failure { throw failure }
    }

    /// SIGKILLs the postmaster (by its PID file: it runs under `runuser`) and its parent.
    private static func killServer(_ server: ChildProcess, dataDirectory: URL) {
        let pidFile = dataDirectory.appendingPathComponent("postmaster.pid")
        if let text = try? String(contentsOf: pidFile, encoding: .utf8),
            let postmaster = text.split(separator: "\n").first.flatMap({ Int32($0) }), postmaster > 1
        {
            kill(postmaster, SIGKILL)
        }
        server.signal(SIGKILL)
    }

    /// Creates a new, empty database named `name` and returns its URL.
    @discardableResult
    public func createDatabase(_ name: String) async throws -> String {
        try await Self.run(
            [binDirectory.appendingPathComponent("createdb").path, "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", name],
            what: "createdb \(name)"
        )
        return url(database: name)
    }

    /// A new database with a unique name, for a test that wants empty tables.
    public func freshDatabase() async throws -> String {
        try await createDatabase("t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
    }

    /// Stops the server at once and deletes its directory. Safe to call twice.
    public func cleanup() async {
        try? await stop(mode: "immediate")
        watchdog.signal(SIGKILL)
        await watchdog.waitForExit()
        try? FileManager.default.removeItem(at: root)
    }

    /// The server log, for failure messages.
    public func log() -> String {
        (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    }

    // MARK: - Processes

    private func command(_ name: String, _ arguments: [String], what: String) async throws {
        try await Self.run(runAs + [binDirectory.appendingPathComponent(name).path] + arguments, what: what, directory: root.path)
    }

    /// Runs a program to completion without blocking a thread; throws with its output if it fails.
    @discardableResult
    static func run(_ arguments: [String], what: String, directory: String = "/") async throws -> String {
        let status: Int32
        let text: String
        do {
            (status, text) = try await ChildProcess.run(arguments, directory: directory)
        } catch {
            throw SetupError(description: "\(what): cannot run \(arguments.first ?? "?"): \(error)")
        }
        guard status == 0 else {
            throw SetupError(
                description: "\(what) failed (exit \(status)): \(arguments.joined(separator: " "))\n\(text)"
            )
        }
        return text
    }

    private static func findBinaries() async throws -> URL {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["CLOAKROOM_PG_BINDIR"], !configured.isEmpty {
            candidates.append(configured)
        }
        for pgConfig in ["/usr/bin/pg_config", "/usr/local/bin/pg_config", "/opt/homebrew/bin/pg_config"]
        where FileManager.default.isExecutableFile(atPath: pgConfig) {
            if let dir = try? await run([pgConfig, "--bindir"], what: "pg_config") {
                candidates.append(dir.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            candidates.append("/usr/lib/postgresql/\(version)/bin")
        }
        for candidate in candidates {
            let dir = URL(fileURLWithPath: candidate)
            if ["initdb", "pg_ctl", "postgres", "createdb", "pg_isready"].allSatisfy({
                FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent($0).path)
            }) {
                return dir
            }
        }
        throw SetupError(
            description: """
                PostgreSQL server binaries (initdb, pg_ctl, postgres, createdb, pg_isready) were not found; looked in \
                \(candidates.isEmpty ? "nothing" : candidates.joined(separator: ", ")). Install PostgreSQL \
                (e.g. apt-get install postgresql) or set CLOAKROOM_PG_BINDIR to its bin directory.
                """
        )
    }

    /// `runuser -u postgres --` when the process is root (PostgreSQL refuses root), nothing otherwise.
    private static func runAsPrefix() throws -> [String] {
        guard geteuid() == 0 else { return [] }
        guard
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            throw SetupError(description: "running as root, PostgreSQL must run as the postgres user, but runuser was not found")
        }
        guard getpwnam("postgres") != nil else {
            throw SetupError(description: "running as root, PostgreSQL must run as a non-root user, but the user postgres does not exist")
        }
        return [runuser, "-u", "postgres", "--"]
    }

    /// Stops the server and removes its directory once this process is gone, in case it dies
    /// without calling `cleanup()`.
    private static func startWatchdog(root: URL, binDirectory: URL, runAs: [String]) throws -> ChildProcess {
        let pgctl = (runAs + [binDirectory.appendingPathComponent("pg_ctl").path]).map(shellQuoted).joined(separator: " ")
        let data = shellQuoted(root.appendingPathComponent("data").path)
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            if [ -f \(data)/postmaster.pid ]; then \(pgctl) -D \(data) -m immediate stop; fi
            rm -rf \(shellQuoted(root.path))
            """
        do {
            return try ChildProcess(["/bin/sh", "-c", script], directory: "/")
        } catch {
            throw SetupError(description: "cannot start the PostgreSQL test watchdog: \(error)")
        }
    }

    private static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    private static func freePort() throws -> Int {
        guard let port = LoopbackSocket.freePort() else { throw SetupError(description: "cannot find a free port on 127.0.0.1") }
        return port
    }
}

import CloakroomCore
import CloakroomIdentity
import CloakroomPostgres
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

extension PostgresTests {
    /// The server goes away and comes back; each test stops its own server, not the shared one.
    @Suite("Server failure and recovery", .serialized)
    struct Failure {
        static let key = SecureToken.hash("failure-test")

        static func record() -> SessionRecord {
            SessionRecord(
                key: key,
                handle: "h",
                userID: "u",
                createdAt: Date(),
                lastSeen: Date(),
                idleExpiresAt: Date().addingTimeInterval(3600),
                absoluteExpiresAt: Date().addingTimeInterval(7200)
            )
        }

        /// Runs `body` against a private server that it may stop and restart.
        static func withPrivateServer(_ body: @Sendable (PostgresTestServer, CloakroomPostgresDatabase) async throws -> Void) async throws {
            let server = try await PostgresTestServer.launch()
            do {
                try await CloakroomPostgresDatabase.withDatabase(configuration: PostgresFixture.configuration(server.url)) { database in
                    try await body(server, database)
                }
            } catch {
                await server.cleanup()
                throw error
            }
            await server.cleanup()
        }

        /// Times one call that must fail with `StoreError.unavailable` and name no key.
        static func timeFailure(_ store: PostgresSessionStore) async -> Duration {
            let clock = ContinuousClock()
            let started = clock.now
            do {
                _ = try await store.load(key: key, now: Date())
                Issue.record("load succeeded against a stopped server")
            } catch let error as StoreError {
                #expect(error.isUnavailable, "\(error)")
                #expect(!error.message.contains(key), "the message names the key: \(error.message)")
                print("PostgreSQL failure message: \(error.message)")
            } catch {
                Issue.record("expected StoreError.unavailable, got \(type(of: error))")
            }
            return started.duration(to: clock.now)
        }

        /// Calls the same store until it answers again; returns how long that took.
        static func timeRecovery(_ store: PostgresSessionStore) async throws -> Duration {
            let clock = ContinuousClock()
            let started = clock.now
            while started.duration(to: clock.now) < .seconds(20) {
                if let loaded = try? await store.load(key: key, now: Date()) {
                    #expect(loaded.key == key, "data survived the restart")
                    return started.duration(to: clock.now)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("the store did not recover within 20 s")
            return started.duration(to: clock.now)
        }

        @Test(.timeLimit(.minutes(2)))
        func stoppedServerFailsWithinTheTimeoutAndTheSameStoreResumes() async throws {
            try await Self.withPrivateServer { server, database in
                let store = PostgresSessionStore(database: database)
                try await store.insert(Self.record())
                try await server.stop()
                let detection = await Self.timeFailure(store)
                #expect(detection < .seconds(5), "detection took \(detection)")
                #expect(detection >= .milliseconds(0))
                try await server.start()
                let resume = try await Self.timeRecovery(store)
                #expect(resume < .milliseconds(2500), "resume took \(resume)")
                print("PostgreSQL failure: detected in \(detection), resumed \(resume) after restart")
            }
        }

        /// Sends `signal` to the postmaster and every backend of `server` (a frozen server keeps
        /// its sockets open and answers nothing), and to the postmaster's parent: `runuser` stops
        /// itself when its child stops, and must go on too.
        static func signalServer(_ server: PostgresTestServer, _ signal: String) async throws {
            let pidFile = server.root.appendingPathComponent("data/postmaster.pid")
            let text = try String(contentsOf: pidFile, encoding: .utf8)
            let postmaster = try #require(text.split(separator: "\n").first.map(String.init))
            let targets = [["-\(signal)", "-P", postmaster], ["-\(signal)", "-F", pidFile.path]]
            // /proc/PID/stat: "pid (comm) state ppid …"; comm has no spaces here ("postgres").
            let stat = try String(contentsOfFile: "/proc/\(postmaster)/stat", encoding: .utf8).split(separator: " ")
            if signal == "CONT", stat.count > 3, let parent = Int32(stat[3]), parent > 1 { kill(parent, SIGCONT) }
            for arguments in targets {
                _ = try await ChildProcess.run(["pkill"] + arguments)
            }
        }

        @Test("a frozen server (open sockets, no answers) fails each call within the timeout, and service resumes", .timeLimit(.minutes(2)))
        func frozenServerFailsWithinTheTimeout() async throws {
            try await Self.withPrivateServer { server, database in
                let store = PostgresSessionStore(database: database)
                try await store.insert(Self.record())
                try await Self.signalServer(server, "STOP")
                // A statement on an established connection, and calls waiting for connections.
                for _ in 0..<3 {
                    let took = await Self.timeFailure(store)
                    #expect(took < database.configuration.timeout + .milliseconds(1500), "a call on a frozen server took \(took)")
                }
                try await Self.signalServer(server, "CONT")
                let resume = try await Self.timeRecovery(store)
                #expect(resume < .seconds(5), "resume took \(resume)")
            }
        }

        @Test(.timeLimit(.minutes(2)))
        func aLongOutageStillResumesPromptly() async throws {
            // Keep calling while the server is down so the pool's reconnect back-off grows; the
            // database replaces the pool once the server answers again.
            try await Self.withPrivateServer { server, database in
                let store = PostgresSessionStore(database: database)
                let accounts = PostgresAccountStore(database: database)
                try await store.insert(Self.record())
                try await server.stop()
                var detections: [Duration] = []
                for _ in 0..<4 { detections.append(await Self.timeFailure(store)) }
                #expect(detections.allSatisfy { $0 < .seconds(5) }, "\(detections)")
                do {
                    _ = try await accounts.account(username: "anyone")
                    Issue.record("account lookup succeeded against a stopped server")
                } catch let error as PostgresStoreError {
                    #expect(error.isConnectivity)
                }
                try await server.start()
                let resume = try await Self.timeRecovery(store)
                #expect(resume < .milliseconds(2500), "resume took \(resume)")
                #expect(try await accounts.account(username: "anyone") == nil)
                print("PostgreSQL long outage: failures in \(detections), resumed \(resume) after restart")
            }
        }
    }
}

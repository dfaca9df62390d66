import CloakroomCore
import CloakroomPostgres
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

extension PostgresTests {
    @Suite("Database: URLs, migrations, lifecycle")
    struct Database {
        @Test func urlsParse() throws {
            let full = try CloakroomPostgresDatabase.Configuration(url: "postgres://app:s%40cret@db.example:6543/cloak%20room?sslmode=require")
            #expect(full.host == "db.example" && full.port == 6543)
            #expect(full.username == "app" && full.password == "s@cret")
            #expect(full.database == "cloak room" && full.tls == .require)
            #expect(full.timeout == .seconds(2))
            #expect(!full.description.contains("s@cret") && !full.description.contains("cret"), "the description hides the password")

            let short = try CloakroomPostgresDatabase.Configuration(url: "postgresql://app@localhost/cloakroom", timeout: .milliseconds(500))
            #expect(short.port == 5432 && short.password == nil && short.tls == .prefer && short.timeout == .milliseconds(500))
            #expect(short.preparesStatements && full.preparesStatements)

            let pooled = try CloakroomPostgresDatabase.Configuration(url: "postgres://app@pgbouncer/db?sslmode=disable&prepared_statements=off")
            #expect(!pooled.preparesStatements && pooled.tls == .disable)
            #expect(pooled.description.hasSuffix("?sslmode=disable&prepared_statements=off"))
            #expect(try CloakroomPostgresDatabase.Configuration(url: "postgres://app@h/db?prepared_statements=on").preparesStatements)

            let ipv6 = try CloakroomPostgresDatabase.Configuration(url: "postgres://app@[::1]:5433/db?sslmode=disable")
            #expect(ipv6.host == "::1" && ipv6.port == 5433 && ipv6.tls == .disable)

            for (mode, expected) in [
                ("allow", CloakroomPostgresDatabase.Configuration.TLSMode.disable), ("prefer", .prefer),
                ("verify-ca", .verifyCA), ("verify-full", .verifyFull),
            ] {
                #expect(try CloakroomPostgresDatabase.Configuration(url: "postgres://app@h/db?sslmode=\(mode)").tls == expected)
            }
        }

        @Test(arguments: [
            "mysql://app@host/db", "postgres://host/db", "postgres://app@/db", "postgres://app@host",
            "postgres://app@host/", "postgres://app@host/db?sslmode=maybe", "postgres://app@host/db?search_path=x",
            "postgres://app@host/db?prepared_statements=yes", "not a url",
            "postgres://app@host:0/db", "postgres://app@host:65536/db", "postgres://app@host:18446744073709551617/db",
        ])
        func badURLsAreRefused(_ url: String) {
            #expect(throws: PostgresStoreError.self) { try CloakroomPostgresDatabase.Configuration(url: url) }
        }

        @Test(
            "a URL with characters URLComponents re-encodes keeps its port, or is refused; never a crash (found by fuzzing)",
            arguments: [
                "postgres://\u{FFFD}app:pw@db.example:6543/app", "postgres://äpp:p w@db.example:6543/app", "postgres://app:pw@db.example:6543/dätä",
            ]
        )
        func reencodedURLsDoNotCrash(_ url: String) {
            let parsed = try? CloakroomPostgresDatabase.Configuration(url: url)
            #expect(parsed == nil || parsed?.port == 6543)
        }

        @Test func migrationsAreIdempotentAndKeepData() async throws {
            let url = try await PostgresFixture.sharedServer().freshDatabase()
            let configuration = try PostgresFixture.configuration(url)
            let record = SessionRecord(
                key: SecureToken.hash("kept"),
                handle: "h",
                createdAt: Date(),
                lastSeen: Date(),
                idleExpiresAt: Date().addingTimeInterval(600),
                absoluteExpiresAt: Date().addingTimeInterval(3600)
            )
            try await CloakroomPostgresDatabase.withDatabase(configuration: configuration) { database in
                #expect(try await database.schemaVersion() == CloakroomPostgresDatabase.latestSchemaVersion)
                try await PostgresSessionStore(database: database).insert(record)
            }
            for _ in 0..<2 {
                try await CloakroomPostgresDatabase.withDatabase(configuration: configuration) { database async throws in
                    #expect(try await database.schemaVersion() == CloakroomPostgresDatabase.latestSchemaVersion)
                    #expect(try await PostgresSessionStore(database: database).load(key: record.key, now: Date()) != nil)
                }
            }
        }

        @Test func concurrentOpensDoNotFail() async throws {
            let url = try await PostgresFixture.sharedServer().freshDatabase()
            let configuration = try PostgresFixture.configuration(url)
            let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await CloakroomPostgresDatabase.withDatabase(configuration: configuration) { try await $0.schemaVersion() }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(versions == Array(repeating: CloakroomPostgresDatabase.latestSchemaVersion, count: 4))
        }

        @Test func unreachableServerFailsFastWithoutLeakingThePassword() async throws {
            // A port nothing listens on: refused at once, well inside the timeout.
            let server = try PostgresFixture.sharedServer()
            let url = "postgres://app:hunter2secret@127.0.0.1:1/cloakroom?sslmode=disable"
            let clock = ContinuousClock()
            let started = clock.now
            do {
                _ = try await CloakroomPostgresDatabase.open(url: url)
                Issue.record("open succeeded against a closed port")
            } catch let error as PostgresStoreError {
                #expect(error.isConnectivity)
                #expect(!error.message.contains("hunter2"), "\(error.message)")
            }
            #expect(started.duration(to: clock.now) < .seconds(3))
            _ = server
        }

        @Test func wrongDatabaseIsAnError() async throws {
            let server = try PostgresFixture.sharedServer()
            await #expect(throws: PostgresStoreError.self) {
                _ = try await CloakroomPostgresDatabase.open(url: server.url(database: "does_not_exist"))
            }
        }

        @Test func closedDatabaseFailsAtOnce() async throws {
            let url = try await PostgresFixture.sharedServer().freshDatabase()
            let database = try await CloakroomPostgresDatabase.open(configuration: PostgresFixture.configuration(url))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await database.run() }
                let store = PostgresSessionStore(database: database)
                try await store.ping()
                await database.close()
                try await group.waitForAll()
                let clock = ContinuousClock()
                let started = clock.now
                do {
                    try await store.ping()
                    Issue.record("ping succeeded on a closed database")
                } catch let error as StoreError {
                    #expect(error.isUnavailable)
                }
                #expect(started.duration(to: clock.now) < .milliseconds(200))
            }
            await database.close()
        }

        @Test func runAfterCloseReturnsAtOnce() async throws {
            let url = try await PostgresFixture.sharedServer().freshDatabase()
            let database = try await CloakroomPostgresDatabase.open(configuration: PostgresFixture.configuration(url))
            await database.close()
            try await database.run()
            await #expect(throws: PostgresStoreError.self) { try await database.schemaVersion() }
        }

        @Test func callsBeforeRunWaitForIt() async throws {
            let url = try await PostgresFixture.sharedServer().freshDatabase()
            let database = try await CloakroomPostgresDatabase.open(configuration: PostgresFixture.configuration(url))
            let store = PostgresSessionStore(database: database)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.ping() }  // queued until the pool runs
                try await Task.sleep(for: .milliseconds(200))
                group.addTask { try await database.run() }
                try await group.next()
                await database.close()
                try await group.waitForAll()
            }
        }
    }
}

import CloakroomCore
import CloakroomIdentity
import CloakroomPostgres
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

extension PostgresTests {
    @Suite("Kept statements: the statements of every request are prepared once per connection")
    struct KeptStatements {
        /// With `prepared_statements=off` (a pooler in transaction mode) the same statements run
        /// unnamed, with the same results, and nothing stays prepared.
        @Test(arguments: [true, false])
        func everyRequestStatementIsPreparedOnceAndBindsNullsAndValues(prepares: Bool) async throws {
            let url = try await PostgresFixture.sharedServer().freshDatabase()
            var configuration = try PostgresFixture.configuration(url + (prepares ? "" : "&prepared_statements=off"))
            #expect(configuration.preparesStatements == prepares)
            configuration.maximumConnections = 1
            configuration.timeout = .seconds(15)
            try await CloakroomPostgresDatabase.withDatabase(configuration: configuration) { database in
                let sessions = PostgresSessionStore(database: database)
                let accounts = PostgresAccountStore(database: database)
                let epochs = PostgresSessionEpochStore(database: database)
                #expect(try await database.preparedStatementNames().isEmpty)

                let now = Date()
                // Anonymous first: the statement is prepared with NULLs for the user, the sign-in
                // time, the agent and the address, then runs again with values in them.
                var record = SessionRecord(
                    key: SecureToken.hash("kept-statements"),
                    handle: "h1",
                    createdAt: now,
                    lastSeen: now,
                    idleExpiresAt: now.addingTimeInterval(600),
                    absoluteExpiresAt: now.addingTimeInterval(3600)
                )
                try await sessions.insert(record)
                #expect(try await sessions.load(key: record.key, now: now)?.userID == nil)
                var signedIn = record
                signedIn.userID = "user-1"
                signedIn.authenticatedAt = now
                signedIn.userAgent = "agent"
                signedIn.ipAddress = "192.0.2.1"
                signedIn.data = ["theme": "dark"]
                signedIn.version = record.version + 1
                #expect(try await sessions.update(signedIn, expectedVersion: record.version))
                #expect(!(try await sessions.update(signedIn, expectedVersion: record.version)))
                let loaded = try #require(try await sessions.load(key: record.key, now: now))
                #expect(loaded.userID == "user-1")
                #expect(loaded.userAgent == "agent")
                #expect(loaded.ipAddress == "192.0.2.1")
                #expect(loaded.data == ["theme": "dark"])
                #expect(loaded.version == signedIn.version)

                let later = now.addingTimeInterval(120)
                try await sessions.touch(key: record.key, lastSeen: later, idleExpiresAt: later.addingTimeInterval(600))
                #expect(try await sessions.load(key: record.key, now: later)?.idleExpiresAt.timeIntervalSince(later) ?? 0 > 599)
                // The load's expiry bound is a bound value too: past the idle expiry it finds nothing.
                #expect(try await sessions.load(key: record.key, now: later.addingTimeInterval(601)) == nil)

                let account = Account(username: "kept", passwordHash: "hash", createdAt: now)
                try await accounts.create(account)
                #expect(try await accounts.account(id: account.id)?.username == "kept")
                #expect(try await accounts.account(id: "missing") == nil)
                #expect(try await epochs.epoch(forUser: "user-1") == 0)
                #expect(try await epochs.advance(forUser: "user-1") == 1)
                #expect(try await epochs.epoch(forUser: "user-1") == 1)
                try await sessions.ping()

                record = signedIn
                try await sessions.delete(key: record.key)
                #expect(try await sessions.load(key: record.key, now: now) == nil)
                // A second round reuses them: one of each on the one connection.
                try await sessions.insert(record)
                try await sessions.delete(key: record.key)

                let kept = [
                    "cloakroom_account_by_id", "cloakroom_select_one", "cloakroom_session_delete", "cloakroom_session_epoch",
                    "cloakroom_session_insert", "cloakroom_session_load", "cloakroom_session_touch", "cloakroom_session_update",
                ]
                #expect(try await database.preparedStatementNames() == (prepares ? kept : []))
            }
        }
    }
}

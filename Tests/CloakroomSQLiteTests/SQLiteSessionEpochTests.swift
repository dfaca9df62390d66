import CloakroomCore
import CloakroomSQLite
import CloakroomSessions
import CloakroomTesting
import Testing

/// Session epochs (what revokes cookie sessions) against a real SQLite file, and the session
/// behaviour suite over the SQLite session store and over cookies revoked through SQLite.
@Suite("Session epochs and behaviour (SQLite)")
struct SQLiteSessionEpochTests {
    @Test("epoch conformance", arguments: SessionEpochStoreConformance.checkNames)
    func epochs(_ check: String) async throws {
        let path = TemporaryFile.path("epochs")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            try await SessionEpochStoreConformance.run(only: [check]) { SQLiteSessionEpochStore(database: database) }
        }
    }

    @Test("behaviour suite: SQLite session store", arguments: SessionBehaviourConformance.checkNames)
    func sqliteSessions(_ check: String) async throws {
        let path = TemporaryFile.path("behaviour")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            try await SessionBehaviourConformance.run(only: [check]) { clock, configuration in
                SessionManager(store: try await SQLiteTestStore.fresh(database), configuration: configuration, clock: clock)
            }
        }
    }

    @Test("behaviour suite: cookie store with SQLite epochs", arguments: SessionBehaviourConformance.checkNames)
    func cookieSessions(_ check: String) async throws {
        let path = TemporaryFile.path("cookie-behaviour")
        defer { TemporaryFile.remove(path) }
        try await withDatabase(path) { database in
            try await SessionBehaviourConformance.run(
                only: [check],
                notApplicable: [
                    "the old cookie is dead after sign-in": "see CookieSessionStoreTests.notApplicable",
                    "a copy of the cookie is dead after sign-out": "see CookieSessionStoreTests.notApplicable",
                    "a user's sessions are listed and one can be revoked by its handle": "see CookieSessionStoreTests.notApplicable",
                    "concurrent writers to one session lose nothing": "see CookieSessionStoreTests.notApplicable",
                ]
            ) { clock, configuration in
                let store = CookieSessionStore(
                    ring: SealingKeyRing(try .generate(id: "s1")),
                    cookieName: "cloakroom",
                    epochs: SQLiteSessionEpochStore(database: database)
                )
                return SessionManager(store: store, configuration: configuration, clock: clock)
            }
        }
    }
}

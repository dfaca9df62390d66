import CloakroomCore
import CloakroomPostgres
import CloakroomRedis
import CloakroomSQLite
import CloakroomTesting
import CloakroomTokens
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import CloakroomServer

/// Each `--store` keeps token state in its own backend, shared by every server on that store.
@Suite("Token state per store")
struct TokenStoreBackendTests {
    @Test("refresh rotation and reuse across two servers on one store", arguments: TestStore.allCases)
    func twoServersShareTokens(_ store: TestStore) async throws {
        let (location, cleanup) = try await store.location()
        do {
            try await exercise(store, location)
        } catch {
            await cleanup()
            throw error
        }
        await cleanup()
    }

    func exercise(_ store: TestStore, _ location: StoreLocation) async throws {
        // Both servers must know the account: one shared accounts file (the store itself for SQLite).
        let accountsFile = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-accounts-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: accountsFile + suffix) } }
        let accounts: StoreLocation? =
            switch store {
            case .memory: .memory
            case .sqlite, .postgres: nil
            case .file, .redis: .sqlite(path: accountsFile)
            }
        let first = try await TestServer.make(store: location, accounts: accounts)
        let kind = String(describing: type(of: first.backends.tokens))
        let expected =
            switch store {
            case .memory: "MemoryTokenStore"
            case .sqlite: "SQLiteTokenStore"
            case .file: "FileTokenStore"
            case .postgres: "PostgresTokenStore"
            case .redis: "RedisTokenStore"
            }
        #expect(kind == expected)
        // Each server runs once (a PostgreSQL backend stops with its server), so the second runs
        // inside the first.
        let second = store == .memory ? nil : try await TestServer.make(store: location, accounts: accounts)
        try await first.run { client in
            let tokens = try await TokenAPITests.signIn(client, "erin")
            let refresh = try #require(tokens["refresh_token"] as? String)
            if let second {
                // Another node on the same store (its own connections and keys) rotates the token...
                try await second.run { other in
                    let renewed = try await TokenAPITests.refresh(other, refresh)
                    #expect(renewed.status == .ok, "\(renewed.text)")
                }
                // ...and the first node sees the old one as used: reuse.
                let replay = try await TokenAPITests.refresh(client, refresh)
                #expect((try replay.json())["reason"] as? String == "reused", "\(replay.text)")
            }
            #expect(try await first.backends.purgeTokens(Date().addingTimeInterval(400 * 86_400)) >= 0)
        }
        try await second?.backends.close()
        try await first.backends.close()
    }
}

import CloakroomPostgres
import CloakroomTesting
import Foundation
import Testing

/// Every PostgreSQL test runs inside this suite, which starts one throwaway server for all of them
/// (`PostgresTestServer`) and deletes it afterwards. Tests that stop a server start their own.
@Suite("PostgreSQL backend", .postgresServer, .timeLimit(.minutes(3)))
struct PostgresTests {}

/// Starts a `PostgresTestServer` around a suite and publishes it in `PostgresFixture.server`.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try await PostgresTestServer.launch()
        do {
            try await PostgresFixture.$server.withValue(server) { try await function() }
        } catch {
            await server.cleanup()
            throw error
        }
        await server.cleanup()
    }
}

extension Trait where Self == PostgresServerTrait {
    /// Runs the suite against a throwaway PostgreSQL server.
    static var postgresServer: Self { Self() }
}

enum PostgresFixture {
    @TaskLocal static var server: PostgresTestServer?

    struct MissingServer: Error, CustomStringConvertible {
        var description: String { "no PostgreSQL test server: run this test inside @Suite(.postgresServer)" }
    }

    static func sharedServer() throws -> PostgresTestServer {
        guard let server else { throw MissingServer() }
        return server
    }

    /// Test settings: the default 2 s timeout, a small pool (many tests run at once).
    static func configuration(_ url: String) throws -> CloakroomPostgresDatabase.Configuration {
        var configuration = try CloakroomPostgresDatabase.Configuration(url: url)
        configuration.maximumConnections = 8
        return configuration
    }

    /// Opens and runs a new, empty database on the shared server for the duration of `body`.
    ///
    /// Correctness tests get a 15 s call timeout: the whole test suite runs in parallel on two cores,
    /// and 100 concurrent commits queued on 8 connections can wait longer than the production 2 s
    /// without anything being wrong. The failure tests keep the 2 s timeout and assert on it.
    static func withFreshDatabase<T: Sendable>(_ body: @Sendable (CloakroomPostgresDatabase) async throws -> T) async throws -> T {
        let url = try await sharedServer().freshDatabase()
        var configuration = try configuration(url)
        configuration.timeout = .seconds(15)
        return try await CloakroomPostgresDatabase.withDatabase(configuration: configuration, body)
    }
}

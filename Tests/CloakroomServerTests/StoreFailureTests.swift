import CloakroomCore
import CloakroomTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

@testable import CloakroomServer

/// A central store stops under load: 503 `session_store_unavailable` within the command timeout,
/// `/healthz` says the store is down, the server keeps running, and service resumes by itself
/// within 2 seconds of the store coming back. With the real servers.
@Suite("Store failure over HTTP", .serialized)
struct StoreFailureTests {
    struct Outage {
        var firstFailure: Double = 0
        var resumed: Double = 0
        var statuses: [Int: Int] = [:]
    }

    @Test func postgresStopsAndComesBack() async throws {
        let database = try await PostgresTestServer.launch()
        do {
            let outage = try await exercise(
                store: .postgres(url: database.url),
                persistent: true,
                stop: { try await database.stop() },
                start: { try await database.start() }
            )
            print("postgres outage: first 503 after \(outage.firstFailure) s, resumed \(outage.resumed) s after restart, statuses \(outage.statuses)")
        } catch {
            await database.cleanup()
            throw error
        }
        await database.cleanup()
    }

    @Test("/healthz is 503 while the account store is down, though the session store is up")
    func accountStoreDownFailsHealth() async throws {
        let database = try await PostgresTestServer.launch()
        do {
            let server = try await TestServer.make(store: .memory, accounts: .postgres(url: database.url))
            try await server.run(.ahc()) { client in
                let up = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
                #expect(up.status == .ok)
                #expect((try? up.json())?["accounts"] as? String == "up")
                try await database.stop()
                let down = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
                #expect(down.status == .serviceUnavailable)
                let body = try down.json()
                #expect(body["store"] as? String == "up")
                #expect(body["accounts"] as? String == "down")
                #expect(body["error"] as? String == "store_unavailable")
                try await database.start()
                var back = false
                for _ in 0..<100 where !back {
                    back = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil).status == .ok
                    if !back { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(back, "healthy again after the account store returned")
            }
        } catch {
            await database.cleanup()
            throw error
        }
        await database.cleanup()
    }

    @Test func redisStopsAndComesBack() async throws {
        let redis = try await RedisTestServer.start()
        do {
            let outage = try await exercise(
                store: .redis(url: redis.url),
                persistent: false,
                stop: { await redis.stop() },
                start: { try await redis.start() }
            )
            print("redis outage: first 503 after \(outage.firstFailure) s, resumed \(outage.resumed) s after restart, statuses \(outage.statuses)")
        } catch {
            await redis.shutdown()
            throw error
        }
        await redis.shutdown()
    }

    func exercise(
        store: StoreLocation,
        persistent: Bool,
        stop: @escaping @Sendable () async throws -> Void,
        start: @escaping @Sendable () async throws -> Void
    ) async throws -> Outage {
        let server = try await TestServer.make(store: store, accounts: .memory)
        let outage = try await server.run(.ahc()) { client -> Outage in
            let v = Visitor(client)
            #expect(try await v.request(.post, "/api/register", json: credentials("uma")).status == .created)
            let cookie = try #require(v.cookie)
            let headers: HTTPFields = [.cookie: "cloakroom=\(cookie)"]
            var outage = Outage()

            // Load: 4 clients reading their session in a loop while the store stops and returns.
            let stopLoad = DoneSignal()
            let load = Task {
                var statuses: [Int: Int] = [:]
                await withTaskGroup(of: [Int: Int].self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            var seen: [Int: Int] = [:]
                            while !stopLoad.isDone {
                                let status =
                                    (try? await client.executeRequest(uri: "/api/me", method: .get, headers: headers, body: nil).status.code) ?? -1
                                seen[status, default: 0] += 1
                                try? await Task.sleep(for: .milliseconds(20))
                            }
                            return seen
                        }
                    }
                    for await seen in group { statuses.merge(seen, uniquingKeysWith: +) }
                }
                return statuses
            }
            try await Task.sleep(for: .milliseconds(300))

            try await stop()
            let stoppedAt = ContinuousClock.now
            let failed = try await client.executeRequest(uri: "/api/me", method: .get, headers: headers, body: nil)
            outage.firstFailure = (ContinuousClock.now - stoppedAt).seconds
            #expect(failed.status == .serviceUnavailable)
            #expect(failed.errorCode == "session_store_unavailable")
            #expect(failed.headers[.retryAfter] != nil)
            #expect(outage.firstFailure < 4, "503 within the 2 s command timeout (plus margin), took \(outage.firstFailure) s")
            let health = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(health.status == .serviceUnavailable)
            #expect((try? health.json())?["store"] as? String == "down")
            // Registering while sessions cannot be stored is refused before the account exists.
            let refusedRegistration = try await Visitor(client).request(.post, "/api/register", json: credentials("vera"))
            #expect(refusedRegistration.status == .serviceUnavailable)

            try await start()
            let startedAt = ContinuousClock.now
            var back = false
            while (ContinuousClock.now - startedAt).seconds < 10 {
                let r = try await client.executeRequest(uri: "/api/me", method: .get, headers: headers, body: nil)
                // Answered by the store again: 200, or 401 when the store lost its data (a Redis
                // restarted without persistence forgets every session, as a crash would).
                if r.status != .serviceUnavailable {
                    back = true
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            outage.resumed = (ContinuousClock.now - startedAt).seconds
            #expect(back, "service resumed")
            #expect(outage.resumed < 2.5, "resumed within 2 s (plus polling), took \(outage.resumed) s")
            #expect((try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)).status == .ok)
            let retried = try await Visitor(client).request(.post, "/api/register", json: credentials("vera"))
            #expect(retried.status == .created, "the refused registration left no account behind: \(retried.text)")
            let me = try await v.request(.get, "/api/me")
            if persistent {
                // The session survived the outage: still signed in as the same user.
                #expect(((try me.json())["user"] as? [String: Any])?["username"] as? String == "uma")
            } else {
                #expect(me.status == .unauthorized, "an in-memory Redis lost its sessions with the crash")
            }

            stopLoad.done()
            outage.statuses = await load.value
            #expect(
                Set(outage.statuses.keys).isSubset(of: persistent ? [200, 503] : [200, 401, 503]),
                "only 200, 401 or 503 under load, saw \(outage.statuses)"
            )
            return outage
        }
        try await server.backends.close()
        return outage
    }
}

final class DoneSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    func done() { flag.store(true, ordering: .releasing) }
    var isDone: Bool { flag.load(ordering: .acquiring) }
}

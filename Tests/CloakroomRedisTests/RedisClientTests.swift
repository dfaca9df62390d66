import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomRedis

/// The RESP client against a real server: authentication, databases, scripts, the pool, and
/// behaviour while Redis is down or frozen.
@Suite("Redis client")
struct RedisClientTests {
    static let password = "p@ss:w/rd 1"

    func record(_ name: String, user: String? = nil, created: Date = Date(), idle: TimeInterval = 1800) -> SessionRecord {
        SessionRecord(
            key: SecureToken.hash(name),
            handle: "h-" + name,
            userID: user,
            createdAt: created,
            lastSeen: created,
            idleExpiresAt: created.addingTimeInterval(idle),
            absoluteExpiresAt: created.addingTimeInterval(43_200)
        )
    }

    @Test("AUTH with the right password works; a wrong or missing one fails as unavailable")
    func auth() async throws {
        try await RedisTestServer.with(password: Self.password) { server in
            let encoded = "p%40ss%3Aw%2Frd%201"
            let good = try RedisConfiguration(url: "redis://:\(encoded)@127.0.0.1:\(server.port)/0")
            #expect(good.password == Self.password && good.username == nil)
            try await withStore(good) { store in try await store.ping() }

            let capture = LogCapture()
            var wrong = good
            wrong.password = "not-the-password"
            try await withStore(wrong, logger: capture.logger) { store in
                let error = await #expect(throws: StoreError.self) { try await store.ping() }
                #expect(error?.isUnavailable == true)
                #expect(error.map { !"\($0)".contains("not-the-password") } ?? false)
            }
            #expect(!capture.text.contains("not-the-password"))

            var none = good
            none.password = nil
            try await withStore(none) { store in
                let error = await #expect(throws: StoreError.self) { try await store.ping() }
                #expect(error?.isUnavailable == true)
            }
        }
    }

    @Test("the start-up probe: ready, refused for a wrong password, a missing one or an unknown database, unreachable when down")
    func probe() async throws {
        try await RedisTestServer.with(password: Self.password) { server in
            let good = configuration(server)
            #expect(await RedisProbe.check(good) == .ready)
            var wrong = good
            wrong.password = "not-the-password"
            guard case .refused(let reason) = await RedisProbe.check(wrong) else {
                Issue.record("wrong password not refused")
                return
            }
            #expect(!reason.contains("not-the-password"))
            var none = good
            none.password = nil
            guard case .refused = await RedisProbe.check(none) else {
                Issue.record("missing password not refused")
                return
            }
            var database = good
            database.database = 99
            guard case .refused = await RedisProbe.check(database) else {
                Issue.record("database 99 not refused")
                return
            }
            var down = good
            down.port = 1
            guard case .unreachable = await RedisProbe.check(down) else {
                Issue.record("port 1 not unreachable")
                return
            }
        }
    }

    @Test("AUTH with an ACL user and password")
    func aclUser() async throws {
        try await RedisTestServer.with(password: Self.password) { server in
            try await withRawClient(configuration(server)) { admin in
                _ = try await admin.send(RedisCommand("ACL", "SETUSER", "alice", "on", ">alice-secret", "~*", "+@all"))
            }
            let alice = try RedisConfiguration(url: "redis://alice:alice-secret@127.0.0.1:\(server.port)")
            #expect(alice.username == "alice" && alice.password == "alice-secret" && alice.database == 0)
            try await withStore(alice) { store in
                try await store.ping()
                try await store.insert(record("acl"))
            }
            var wrong = alice
            wrong.password = "bob-secret"
            try await withStore(wrong) { store in
                let error = await #expect(throws: StoreError.self) { try await store.ping() }
                #expect(error?.isUnavailable == true)
            }
        }
    }

    @Test("SELECT keeps databases apart")
    func selectDatabase() async throws {
        try await RedisTestServer.with { server in
            let prefix = uniquePrefix()
            var db3 = configuration(server, prefix: prefix)
            db3.database = 3
            let db0 = configuration(server, prefix: prefix)
            let r = record("select")
            try await withStore(db3) { store in try await store.insert(r) }
            try await withStore(db0) { store in
                #expect(try await store.load(key: r.key, now: Date()) == nil)
                try await store.insert(r)
            }
            try await withStore(db3) { store in
                #expect(try await store.load(key: r.key, now: Date()) != nil)
                try await store.delete(key: r.key)
            }
            try await withRawClient(db0) { raw in
                let size = try await raw.send(RedisCommand("DBSIZE")).int
                #expect(size == 1)
            }
            let url = try RedisConfiguration(url: "redis://127.0.0.1:\(server.port)/3")
            #expect(url.database == 3)
            try await withRawClient(url) { raw in
                let size = try await raw.send(RedisCommand("DBSIZE")).int
                #expect(size == 0)
            }
        }
    }

    @Test("scripts are reloaded after SCRIPT FLUSH (NOSCRIPT)")
    func noscriptReload() async throws {
        try await RedisTestServer.with { server in
            let config = configuration(server)
            try await withStore(config) { store in
                var r = record("flush", user: "u1")
                try await store.insert(r)
                try await withRawClient(config) { raw in
                    _ = try await raw.send(RedisCommand("SCRIPT", "FLUSH"))
                }
                r.version = 2
                r.data = ["k": "v"]
                #expect(try await store.update(r, expectedVersion: 1))
                try await store.touch(key: r.key, lastSeen: Date(), idleExpiresAt: Date().addingTimeInterval(60))
                #expect(try await store.records(forUser: "u1", now: Date()).map(\.version) == [2])
                #expect(try await store.load(key: r.key, now: Date())?.data == ["k": "v"])
                try await withRawClient(config) { raw in
                    _ = try await raw.send(RedisCommand("SCRIPT", "FLUSH"))
                }
                #expect(try await store.deleteAll(forUser: "u1", exceptKey: nil) == 1)
            }
        }
    }

    @Test("many concurrent commands share a small pool by pipelining")
    func poolLimit() async throws {
        try await RedisTestServer.with { server in
            var config = configuration(server)
            config.poolSize = 2
            try await withStore(config) { store in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<300 {
                        group.addTask {
                            if i % 3 == 0 {
                                try await store.insert(record("pool\(i)"))
                            } else {
                                try await store.ping()
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(await store.client.pool.connectionCount <= 2)
                #expect(try await store.list(now: Date(), afterKey: nil, limit: 1000).count == 100)
            }
        }
    }

    @Test("Redis stopped: calls fail as unavailable quickly; restarted: they succeed within 2 s, same store")
    func outageAndRecovery() async throws {
        try await RedisTestServer.with { server in
            let capture = LogCapture()
            let config = configuration(server)
            try await withStore(config, logger: capture.logger) { store in
                let r = record("outage", user: "u-outage")
                try await store.insert(r)
                await server.stop()

                let clock = ContinuousClock()
                for _ in 0..<3 {
                    let start = clock.now
                    let error = await #expect(throws: StoreError.self) { _ = try await store.load(key: r.key, now: Date()) }
                    #expect(error?.isUnavailable == true)
                    #expect(clock.now - start < config.commandTimeout + .milliseconds(500))
                }

                try await server.start()
                let restarted = clock.now
                var recovered = false
                while clock.now - restarted < .seconds(3) {
                    if (try? await store.ping()) != nil {
                        recovered = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                let recovery = clock.now - restarted
                #expect(recovered && recovery < .seconds(2), "recovered after \(recovery)")
                // No persistence: the restarted server is empty, and writable again.
                #expect(try await store.load(key: r.key, now: Date()) == nil)
                try await store.insert(r)
                #expect(try await store.records(forUser: "u-outage", now: Date()).count == 1)
            }
            #expect(!capture.text.contains(SecureToken.hash("outage")))
            #expect(capture.text.contains("redis connection failed"))
        }
    }

    @Test("a frozen server: the command times out as unavailable and the connection is replaced")
    func commandTimeout() async throws {
        try await RedisTestServer.with { server in
            var config = configuration(server)
            config.commandTimeout = .seconds(2)
            try await withStore(config) { store in
                try await store.ping()
                server.pause()
                let clock = ContinuousClock()
                let start = clock.now
                let error = await #expect(throws: StoreError.self) { try await store.ping() }
                let elapsed = clock.now - start
                server.resume()
                #expect(error?.isUnavailable == true)
                #expect(error?.message.contains("timed out") == true)
                #expect(
                    elapsed >= .milliseconds(1900) && elapsed < .milliseconds(4000),
                    "timed out after \(elapsed) (2 s timeout; the margin is for a loaded machine)"
                )
                try await store.ping()
            }
        }
    }

    @Test("queued requests on a frozen server all fail as unavailable, none hangs")
    func frozenQueue() async throws {
        try await RedisTestServer.with(password: Self.password) { server in
            var config = configuration(server)
            config.poolSize = 1
            config.pipelineDepth = 2
            config.commandTimeout = .milliseconds(400)
            config.connectTimeout = .milliseconds(400)
            try await withStore(config) { store in
                try await store.ping()
                server.pause()
                let clock = ContinuousClock()
                let start = clock.now
                let results = await withTaskGroup(of: Bool.self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            do {
                                try await store.ping()
                                return false
                            } catch let error as StoreError {
                                return error.isUnavailable
                            } catch {
                                return false
                            }
                        }
                    }
                    return await group.reduce(into: [Bool]()) { $0.append($1) }
                }
                let elapsed = clock.now - start
                #expect(results.count == 20 && results.allSatisfy { $0 }, "every request fails as unavailable")
                #expect(elapsed < .seconds(3), "took \(elapsed)")
                server.resume()
                // A new connection (AUTH included) serves again, once the pool's reconnect backoff
                // (at most maxReconnectDelay, 1 s) has passed.
                let deadline = clock.now + .seconds(3)
                while (try? await store.ping()) == nil, clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
                try await store.ping()
            }
            // A fresh store whose AUTH meets a frozen server fails as unavailable too.
            server.pause()
            var fresh = configuration(server)
            fresh.commandTimeout = .milliseconds(400)
            try await withStore(fresh) { store in
                let error = await #expect(throws: StoreError.self) { try await store.ping() }
                #expect(error?.isUnavailable == true)
            }
            server.resume()
        }
    }

    @Test("a queue far deeper than the pipeline on one connection is fully served")
    func smallPipeline() async throws {
        try await RedisTestServer.with { server in
            var config = configuration(server)
            config.poolSize = 1
            config.pipelineDepth = 4
            // About queueing, not speed: debug builds on a busy machine are slow.
            config.commandTimeout = .seconds(60)
            try await withStore(config) { store in
                let now = Date()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<300 {
                        group.addTask {
                            try await store.insert(record("deep\(i)", user: "deep", created: now))
                            #expect(try await store.load(key: SecureToken.hash("deep\(i)"), now: now)?.handle == "h-deep\(i)")
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(await store.client.pool.connectionCount == 1)
                #expect(try await store.records(forUser: "deep", now: now).count == 300)
            }
        }
    }

    @Test("URLs parse; secrets stay out of descriptions and errors")
    func urls() throws {
        let full = try RedisConfiguration(url: "redis://user:pw%2F1@cache.internal:6380/2")
        #expect(full.host == "cache.internal" && full.port == 6380 && full.database == 2)
        #expect(full.username == "user" && full.password == "pw/1")
        #expect(full.description == "redis://user:***@cache.internal:6380/2")
        let passwordOnly = try RedisConfiguration(url: "redis://:secret@localhost:6379/0")
        #expect(passwordOnly.username == nil && passwordOnly.password == "secret")
        #expect(!passwordOnly.description.contains("secret"))
        let bare = try RedisConfiguration(url: "redis://localhost")
        #expect(bare.port == 6379 && bare.database == 0 && bare.password == nil && bare.keyPrefix == "cloakroom:")
        #expect(bare.poolSize == 8 && bare.commandTimeout == .seconds(2))
        let ipv6 = try RedisConfiguration(url: "redis://[::1]:7000/1")
        #expect(ipv6.host == "::1" && ipv6.port == 7000 && ipv6.database == 1)
        for bad in [
            "http://localhost", "rediss://:x@localhost?ca=/nonexistent/ca.pem", "redis://localhost?ca=/etc/hostname",
            "rediss://localhost?ca=/etc/hostname", "rediss://localhost?verify=no", "redis://", "redis://localhost/abc",
            "redis://localhost/-1", "redis://localhost:0", "redis://localhost:18446744073709551616", "redis://localhost:65536",
            "redis://user@localhost", "redis://:topsecret@h/0?x=1", "not a url",
        ] {
            #expect(throws: RedisConfiguration.ParseError.self, "\(bad)") { try RedisConfiguration(url: bad) }
            do { _ = try RedisConfiguration(url: bad) } catch { #expect(!"\(error)".contains("topsecret")) }
        }
        // Characters URLComponents re-encodes move the port in its string: the port is read from
        // that string, not the URL as typed (an index into the latter crashed; found by fuzzing).
        for url in ["redis://\u{FFFD}user:pw%2F1@cache.internal:6380/2", "redis://üser:p w@cache.internal:6380/2", "rediss://:pw@cäche:6380/2"] {
            let parsed = try? RedisConfiguration(url: url)
            #expect(parsed == nil || parsed?.port == 6380, "\(url)")
        }
    }
}

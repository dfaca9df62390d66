import CloakroomCore
import CloakroomSessions
import CloakroomTesting
import Foundation
import Testing

@testable import CloakroomRedis

/// `rediss://`: sessions and the password cross the network encrypted, to a real redis-server
/// speaking TLS only, and the server's certificate is verified (issue 10, finding 9).
@Suite("Redis over TLS")
struct RedisTLSTests {
    /// A CA, and a server certificate it signed for `names` (DNS names and IP addresses), made with openssl.
    static func certificates(for names: [String]) async throws -> (files: RedisTestServer.TLSFiles, folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let subjectNames = names.map { $0.contains(where: \.isLetter) ? "DNS:\($0)" : "IP:\($0)" }.joined(separator: ",")
        try "subjectAltName=\(subjectNames)\n".write(toFile: path("ext"), atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.crt"),
                "-days", "2", "-subj", "/CN=Cloakroom test CA",
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("server.key"), "-out", path("server.csr"),
                "-subj", "/CN=\(names[0])",
            ],
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial", "-out",
                path("server.crt"), "-days", "2", "-extfile", path("ext"),
            ],
        ]
        for arguments in steps {
            let (status, output) = try await ChildProcess.run(["openssl"] + arguments)
            try #require(status == 0, "openssl \(arguments[0]) failed: \(output)")
        }
        return (RedisTestServer.TLSFiles(certificate: path("server.crt"), key: path("server.key"), ca: path("ca.crt")), folder)
    }

    static func session(_ now: Date) -> SessionRecord {
        SessionRecord(
            key: SecureToken.hash("tls-\(UUID().uuidString)"),
            handle: "tls-handle",
            userID: "user-over-tls",
            data: ["secret": "crossed the network encrypted"],
            createdAt: now,
            lastSeen: now,
            idleExpiresAt: now.addingTimeInterval(600),
            absoluteExpiresAt: now.addingTimeInterval(3600)
        )
    }

    @Test("rediss:// with ?ca= stores and loads a session over TLS, with AUTH, from a server that speaks only TLS")
    func sessionsOverTLS() async throws {
        let (files, folder) = try await Self.certificates(for: ["localhost", "127.0.0.1"])
        defer { try? FileManager.default.removeItem(at: folder) }
        try await RedisTestServer.with(password: "tls secret", tls: files) { server in
            for host in ["127.0.0.1", "localhost"] {
                var configuration = try RedisConfiguration(url: "rediss://:tls%20secret@\(host):\(server.port)/0?ca=\(files.ca)")
                configuration.keyPrefix = uniquePrefix("tls")
                #expect(configuration.description == "rediss://:***@\(host):\(server.port)/0?ca=\(files.ca)")
                try await withStore(configuration) { store in
                    let now = Date()
                    let record = Self.session(now)
                    try await store.insert(record)
                    #expect(try await store.load(key: record.key, now: now)?.data["secret"] == "crossed the network encrypted", "via \(host)")
                }
                // The same server refuses plain TCP.
                var plain = try RedisConfiguration(url: "redis://:tls%20secret@\(host):\(server.port)/0")
                plain.commandTimeout = .milliseconds(500)
                plain.connectTimeout = .milliseconds(500)
                _ = try await withStore(plain) { store in
                    await #expect(throws: (any Error).self) { _ = try await store.load(key: SecureToken.hash("absent"), now: Date()) }
                }
            }
        }
    }

    @Test("the certificate is verified by default: an unknown CA or another name is refused")
    func certificateIsVerified() async throws {
        let (files, folder) = try await Self.certificates(for: ["cache.example.internal"])
        defer { try? FileManager.default.removeItem(at: folder) }
        try await RedisTestServer.with(tls: files) { server in
            for url in [
                // No ?ca=: the system's roots do not know the test CA.
                "rediss://127.0.0.1:\(server.port)/0",
                // The CA is trusted, but the certificate names cache.example.internal, not this address or name.
                "rediss://127.0.0.1:\(server.port)/0?ca=\(files.ca)",
                "rediss://localhost:\(server.port)/0?ca=\(files.ca)",
            ] {
                var configuration = try RedisConfiguration(url: url)
                configuration.keyPrefix = uniquePrefix("tls")
                configuration.commandTimeout = .seconds(1)
                // At start the probe says why, and as a refusal (exit 1), not "down, retrying".
                if case .refused(let reason) = await RedisProbe.check(configuration) {
                    #expect(reason.contains("TLS handshake") && reason.contains("?ca="), "\(reason)")
                } else {
                    Issue.record("the probe did not refuse \(url): \(await RedisProbe.check(configuration))")
                }
                try await withStore(configuration) { store in
                    do {
                        _ = try await store.load(key: SecureToken.hash("absent"), now: Date())
                        Issue.record("connected despite an unverifiable certificate: \(url)")
                    } catch let error as StoreError {
                        #expect(error.isUnavailable, "\(url): \(error)")
                    }
                }
            }
        }
    }
}

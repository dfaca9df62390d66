import CloakroomCore
import Foundation
import Testing

@testable import CloakroomTokens

/// Saving and loading the key ring: permissions, encryption at rest, wrong secrets.
@Suite("Key file")
struct KeyFileTests {
    static let secretText = "6k0G1oVnq8m3p9sYw2Zf4cXh7JtLbRdA5eUiQ0yN1vM="

    /// A fresh directory under the system temporary directory, removed by `body`'s end.
    static func withDirectory(_ body: (URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("cloakroom-tokens-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await body(directory)
    }

    static func mode(of url: URL) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    /// A ring holding one key of every signing algorithm (the last, EdDSA, active), plus an
    /// imported public key.
    static func fullRing(clock: TestClock) async throws -> TokenKeyRing {
        let ring = TokenKeyRing(clock: clock, logger: TokenFixtures.quiet)
        for algorithm in TokenAlgorithm.signingAlgorithms.reversed() {
            try await ring.generate(algorithm, activateIn: 0)
        }
        let partner = try TestData.cookbook(file: "jws/4_3.ecdsa_signature.json", kid: "partner", alg: .es512)
        try await ring.importVerificationKeys(jwkJSON: partner)
        return ring
    }

    @Test("saved with mode 0600, private material encrypted, and loaded back")
    func saveAndLoad() async throws {
        try await Self.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            let secret = try KeyEncryptionSecret(text: Self.secretText)
            let ring = try await Self.fullRing(clock: clock)
            let issued = try await TokenFixtures.issuer(ring, clock: clock)
                .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 1)
            try await ring.save(to: url, secret: secret)

            #expect(try Self.mode(of: url) == 0o600)
            // No temporary file is left behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["keys.json"])

            // No private or symmetric key material appears in the file, in any common encoding.
            let file = try String(contentsOf: url, encoding: .utf8)
            let entries = await ring.entries
            var needles: [String] = ["PRIVATE KEY"]
            for entry in entries {
                guard let secretBytes = entry.material.secretBytes else { continue }
                // The raw material (an Ed25519 seed is also the JWK `d`; HMAC bytes the JWK `k`)...
                needles += [Base64URL.encode(secretBytes), Data(secretBytes).base64EncodedString(), Hex.encode(secretBytes)]
                // ...and, for EC and RSA keys stored as PKCS#8 PEM, a line of the PEM body.
                let text = String(decoding: secretBytes, as: UTF8.self)
                if text.hasPrefix("-----BEGIN") {
                    needles.append(String(text.split(separator: "\n")[2]))
                }
            }
            #expect(needles.count == 29)  // 1 + 3 per key (8 keys) + 4 PEM lines
            for needle in needles {
                #expect(!file.contains(needle), "key material found in the key file")
            }
            #expect(!file.contains(try #require(entries.first?.info.kid)), "the key list is sealed too")
            #expect(file.contains("cloakroom-token-keys"))

            // Loaded back: same keys and states; tokens from before still verify; new tokens too.
            let loaded = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            #expect(await loaded.list() == (await ring.list()))
            #expect(await loaded.jwks() == (await ring.jwks()))
            let claims = try await TokenFixtures.verifier(loaded, clock: clock).verify(issued.token)
            #expect(claims == issued.claims)
            let fresh = try await TokenFixtures.issuer(loaded, clock: clock)
                .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 1)
            _ = try await TokenFixtures.verifier(ring, clock: clock).verify(fresh.token)

            // Saving again replaces the file and keeps the mode.
            try await loaded.rotate()
            try await loaded.save(to: url, secret: secret)
            #expect(try Self.mode(of: url) == 0o600)
            #expect(
                try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet).list().count == entries.count + 1
            )
        }
    }

    @Test("symmetric keys are stored encrypted", arguments: [TokenAlgorithm.hs256, .hs512])
    func symmetricEncrypted(_ algorithm: TokenAlgorithm) async throws {
        try await Self.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            let ring = try await TokenFixtures.ring(algorithm, clock: clock)
            try await ring.save(to: url, secret: try KeyEncryptionSecret(text: Self.secretText))
            let raw = try #require(await ring.entries.first?.material.secretBytes)
            let file = try Data(contentsOf: url)
            #expect(file.range(of: Data(raw)) == nil)
            #expect(!String(decoding: file, as: UTF8.self).contains(Base64URL.encode(raw)))
        }
    }

    @Test("a file readable by group or others is refused", arguments: [0o644, 0o640, 0o604, 0o660, 0o606])
    func permissiveModeRefused(_ mode: Int) async throws {
        try await Self.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            let secret = try KeyEncryptionSecret(text: Self.secretText)
            try await TokenFixtures.ring(clock: clock).save(to: url, secret: secret)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
            do {
                _ = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
                Issue.record("a key file with mode \(String(mode, radix: 8)) was loaded")
            } catch let error as TokenKeyError {
                #expect(error.code == .insecurePermissions)
                #expect(error.message.contains("chmod 600"))
                #expect(error.message.contains("0\(String(mode, radix: 8))"))
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: url.path)
            _ = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
        }
    }

    @Test("the wrong secret fails with a clear error")
    func wrongSecret() async throws {
        try await Self.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            try await TokenFixtures.ring(clock: clock).save(to: url, secret: try KeyEncryptionSecret(text: Self.secretText))
            let other = try KeyEncryptionSecret(text: String(Self.secretText.reversed()))
            do {
                _ = try await TokenKeyRing.load(from: url, secret: other, clock: clock, logger: TokenFixtures.quiet)
                Issue.record("loaded with the wrong secret")
            } catch let error as TokenKeyError {
                #expect(error.code == .wrongSecret)
                #expect(error.message.contains("secret is wrong"))
                #expect(!error.message.contains(Self.secretText))
            }
        }
    }

    @Test("an altered file fails like a wrong secret; a foreign file is not a key file")
    func tamperedFile() async throws {
        try await Self.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            let secret = try KeyEncryptionSecret(text: Self.secretText)
            try await TokenFixtures.ring(clock: clock).save(to: url, secret: secret)
            var envelope = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            let sealed = try #require(envelope["sealed"] as? String)
            var bytes = try #require(Base64URL.decode(sealed))
            bytes[bytes.count / 2] ^= 0x01
            envelope["sealed"] = Base64URL.encode(bytes)
            try KeyFile.writeFile(try JSONSerialization.data(withJSONObject: envelope), to: url)
            await expectKeyError(.wrongSecret) {
                _ = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            }

            try KeyFile.writeFile(Data(#"{"keys":[]}"#.utf8), to: url)
            await expectKeyError(.corruptFile) {
                _ = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            }
        }
    }

    @Test("a missing file is a file error; loadOrCreate creates one")
    func missingFile() async throws {
        try await Self.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            let secret = try KeyEncryptionSecret(text: Self.secretText)
            await expectKeyError(.fileAccess) {
                _ = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            }
            let created = try await TokenKeyRing.loadOrCreate(at: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            let kid = try #require(await created.activeKey()).kid
            #expect(try Self.mode(of: url) == 0o600)
            let reloaded = try await TokenKeyRing.loadOrCreate(at: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            #expect(await reloaded.activeKey()?.kid == kid)
        }
    }

    @Test("next and retiring keys survive a save and load; a file written before next keys existed still loads")
    func scheduleRoundTrip() async throws {
        try await Self.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            let secret = try KeyEncryptionSecret(text: Self.secretText)
            let ring = try await TokenFixtures.ring(clock: clock)
            let next = try await ring.rotate(activateIn: 90)
            try await ring.save(to: url, secret: secret)
            let loaded = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            #expect(await loaded.list() == (await ring.list()))
            clock.advance(by: 90)
            #expect(await loaded.activeKey()?.kid == next.kid)

            // The sealed list as version 1 wrote it before next keys: no activate_at, no sign_until.
            let old = """
                {"keys":[{"alg":"HS256","created":1767225600,"kid":"old","secret":"\(Base64URL.encode([UInt8](repeating: 7, count: 32)))","state":"retired","verify_until":1767229200},
                {"alg":"HS256","created":1767225700,"kid":"current","secret":"\(Base64URL.encode([UInt8](repeating: 9, count: 32)))","state":"active"}]}
                """
            let body = try JSONDecoder().decode(KeyFile.Body.self, from: Data(old.utf8))
            try KeyFile.writeFile(try KeyFile.sealBody(body, secret: secret), to: url)
            let legacy = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            #expect(await legacy.list().map(\.state) == [.retired(verifyUntil: Date(timeIntervalSince1970: 1_767_229_200)), .active])
        }
    }

    @Test("a secret file group or others may read is refused, like the key file")
    func secretFilePermissions() async throws {
        try await Self.withDirectory { directory in
            let url = directory.appendingPathComponent("keys.json.secret")
            #expect(
                FileManager.default.createFile(
                    atPath: url.path,
                    contents: Data((Self.secretText + "\n").utf8),
                    attributes: [.posixPermissions: 0o644]
                )
            )
            do {
                _ = try KeyEncryptionSecret(contentsOf: url)
                Issue.record("a 0644 secret file was accepted")
            } catch let error as TokenKeyError {
                #expect(error.code == .insecurePermissions)
                #expect(error.message.contains("0644") && error.message.contains("chmod 600"))
                #expect(!error.message.contains(Self.secretText))
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: url.path)
            _ = try KeyEncryptionSecret(contentsOf: url)
        }
    }

    @Test("a short secret is refused")
    func weakSecret() {
        #expect(throws: TokenKeyError.self) { try KeyEncryptionSecret(text: "hunter2") }
        #expect(throws: TokenKeyError.self) { try KeyEncryptionSecret(bytes: [UInt8](repeating: 7, count: 31)) }
        #expect(String(describing: try? KeyEncryptionSecret(text: Self.secretText)).contains("redacted"))
    }
}

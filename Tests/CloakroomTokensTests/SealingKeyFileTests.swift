import CloakroomCore
import CloakroomTesting
import CloakroomTokens
import Foundation
import Testing

/// The sealing key file: sealed under the key-file secret, 0600, current/next/previous keys.
@Suite("Sealing key file")
struct SealingKeyFileTests {
    static func secret() throws -> KeyEncryptionSecret { try KeyEncryptionSecret(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) }) }

    @Test("created with one key; a next key opens but does not seal until promoted; previous keys open; removal ends what only they sealed")
    func lifecycle() throws {
        let path = TemporaryFile.path("sealing-keys")
        defer { TemporaryFile.remove(path) }
        let url = URL(fileURLWithPath: path)
        let secret = try Self.secret()
        #expect(try SealingKeyFile.load(url, secret: secret) == nil)
        let first = try SealingKeyFile.loadOrCreate(url, secret: secret)
        #expect(first.current.id == "s1" && first.keys.count == 1)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let sealedByS1 = try Sealer(ring: first).seal(Array("hello".utf8), name: "c")

        let next = try SealingKeyFile.add(url, secret: secret, activate: false)
        var ring = try #require(try SealingKeyFile.load(url, secret: secret))
        #expect(next == "s2" && ring.current.id == "s1" && ring.keys.map(\.id) == ["s1", "s2"])
        let sealedByS2 = try Sealer(ring: try SealingKeyRing(current: ring.keys[1])).seal(Array("next".utf8), name: "c")
        #expect(try Sealer(ring: ring).open(sealedByS2, name: "c", now: Date()) == Array("next".utf8), "a next key opens")

        try SealingKeyFile.promote(url, id: "s2", secret: secret)
        ring = try #require(try SealingKeyFile.load(url, secret: secret))
        #expect(ring.current.id == "s2")
        #expect(try SealingKeyFile.list(url, secret: secret).map(\.state) == ["current", "previous"])
        #expect(try Sealer(ring: ring).open(sealedByS1, name: "c", now: Date()) == Array("hello".utf8), "the previous key still opens")

        #expect(throws: TokenKeyError.self) { try SealingKeyFile.remove(url, id: "s2", secret: secret) }
        try SealingKeyFile.remove(url, id: "s1", secret: secret)
        ring = try #require(try SealingKeyFile.load(url, secret: secret))
        #expect(throws: SealError.self) { try Sealer(ring: ring).open(sealedByS1, name: "c", now: Date()) }
        #expect(throws: TokenKeyError.self) { try SealingKeyFile.promote(url, id: "s9", secret: secret) }

        let rotated = try SealingKeyFile.add(url, secret: secret, activate: true)
        let reloaded = try SealingKeyFile.load(url, secret: secret)
        #expect(rotated == "s3" && reloaded?.current.id == "s3")
    }

    @Test("a wrong secret, a readable file and a damaged file are refused, each with its reason")
    func refusals() throws {
        let path = TemporaryFile.path("sealing-refusals")
        defer { TemporaryFile.remove(path) }
        let url = URL(fileURLWithPath: path)
        let secret = try Self.secret()
        _ = try SealingKeyFile.loadOrCreate(url, secret: secret)
        let other = try Self.secret()
        do {
            _ = try SealingKeyFile.load(url, secret: other)
            Issue.record("opened with another secret")
        } catch {
            #expect(error.code == .wrongSecret)
        }
        chmod(path, 0o644)
        do {
            _ = try SealingKeyFile.load(url, secret: secret)
            Issue.record("a 0644 file was read")
        } catch {
            #expect(error.code == .insecurePermissions)
        }
        chmod(path, 0o600)
        try Data("{\"format\":\"cloakroom-token-keys\"}".utf8).write(to: url)
        chmod(path, 0o600)
        do {
            _ = try SealingKeyFile.load(url, secret: secret)
            Issue.record("a token key envelope was read as sealing keys")
        } catch {
            #expect(error.code == .corruptFile)
        }
    }

    @Test("keys from text: ID:BASE64URL, the first sealing; bad text is refused")
    func fromText() throws {
        let a = Base64URL.encode((0..<32).map { UInt8($0) })
        let b = Base64URL.encode((0..<32).map { UInt8(255 - $0) })
        let ring = try SealingKeyFile.ring(text: "k2:\(b), k1:\(a)")
        #expect(ring.keys.map(\.id) == ["k2", "k1"])
        for bad in ["", "k1", "k1:short", "k1:\(a),k1:\(b)", "bad id!:\(a)"] {
            #expect(throws: TokenKeyError.self, "\(bad)") { try SealingKeyFile.ring(text: bad) }
        }
    }
}

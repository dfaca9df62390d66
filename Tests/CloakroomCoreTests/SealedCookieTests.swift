import Crypto
import Foundation
import Testing

@testable import CloakroomCore

/// Sealed values and cookies (issue 15): each bad value refused with its own reason; published
/// AES-GCM and ChaCha20-Poly1305 vectors through the seal and open steps.
@Suite("Sealed cookies")
struct SealedCookieTests {
    static let now = Date(timeIntervalSince1970: 1_767_225_600)
    static let key = try! SealingKeyRing.Key(id: "k1", bytes: Array(repeating: 7, count: 32))
    static let ring = try! SealingKeyRing(current: key)

    static func sealer(_ mode: Sealer.Mode) -> Sealer { Sealer(ring: ring, mode: mode) }

    @Test("each mode round-trips a value for its name; AEAD seals differ each time; signed is readable", arguments: Sealer.Mode.allCases)
    func roundTrip(_ mode: Sealer.Mode) throws {
        let sealer = Self.sealer(mode)
        let value = Array("theme=dark; ✓".utf8)
        let first = try sealer.seal(value, name: "prefs", expires: Self.now.addingTimeInterval(60))
        let second = try sealer.seal(value, name: "prefs", expires: Self.now.addingTimeInterval(60))
        #expect(try sealer.open(first, name: "prefs", now: Self.now) == value)
        #expect(first.hasPrefix("\(mode.rawValue)1.k1."))
        #expect(first.utf8.allSatisfy { CookieSyntax.isCookieOctet($0) })
        if mode == .signed {
            #expect(first == second, "signing is deterministic")
            let body = try #require(Base64URL.decodeCanonical(String(first.split(separator: ".")[3])))
            #expect(Array(body.dropFirst(8)) == value, "a signed value is readable by the client")
        } else {
            #expect(first != second, "a fresh nonce each time")
            #expect(!first.contains("dark"))
        }
        #expect(try sealer.open(try sealer.seal([], name: "n", expires: nil), name: "n", now: .distantFuture) == [])
    }

    @Test(
        "a tampered byte, another name, a passed expiry, an unknown key, another mode, garbage: each its own reason",
        arguments: Sealer.Mode.allCases
    )
    func refusals(_ mode: Sealer.Mode) throws {
        let sealer = Self.sealer(mode)
        let sealed = try sealer.seal(Array("v".utf8), name: "prefs", expires: Self.now.addingTimeInterval(60))
        func reason(_ text: String, name: String = "prefs", now: Date = Self.now, by opener: Sealer? = nil) -> SealError.Reason? {
            do {
                _ = try (opener ?? sealer).open(text, name: name, now: now)
                return nil
            } catch {
                return error.reason
            }
        }
        // One byte of the payload changed (a middle character, so the base64url stays canonical).
        var parts = sealed.split(separator: ".").map(String.init)
        var payload = Array(parts[3])
        payload[payload.count / 2] = payload[payload.count / 2] == "A" ? "B" : "A"
        parts[3] = String(payload)
        #expect(reason(parts.joined(separator: ".")) == .tampered)
        // The name tag rewritten to another name's: the name is bound into the authentication.
        var moved = sealed.split(separator: ".").map(String.init)
        moved[2] = Sealer.nameTag("session")
        #expect(reason(moved.joined(separator: "."), name: "session") == .tampered)
        #expect(reason(sealed, name: "session") == .wrongName)
        #expect(reason(sealed, now: Self.now.addingTimeInterval(60)) == .expired)
        #expect(reason(sealed, now: Self.now.addingTimeInterval(59.999)) == nil)
        let other = try SealingKeyRing(current: try SealingKeyRing.Key(id: "k9", bytes: Array(repeating: 9, count: 32)))
        #expect(reason(sealed, by: Sealer(ring: other, mode: mode)) == .unknownKey)
        let otherMode = Sealer.Mode.allCases.first { $0 != mode }!
        #expect(reason(sealed, by: Sealer(ring: Self.ring, mode: otherMode)) == .malformed)
        for garbage in ["", "a1", "\(mode.rawValue)1.k1", "x1.k1.AAAAAA.AAAA", "\(mode.rawValue)1.k1.\(Sealer.nameTag("prefs")).!!"] {
            #expect(reason(garbage) == .malformed || reason(garbage) == .tampered, "\(garbage)")
        }
        // A key of the same ID but other bytes: not ours.
        let impostor = try SealingKeyRing(current: try SealingKeyRing.Key(id: "k1", bytes: Array(repeating: 8, count: 32)))
        #expect(reason(sealed, by: Sealer(ring: impostor, mode: mode)) == .tampered)
    }

    @Test("after a rotation the new key seals, the old one still opens until removed")
    func rotation() throws {
        let old = Self.sealer(.aesGCM)
        let sealedOld = try old.seal(Array("a".utf8), name: "c", expires: nil)
        let next = try SealingKeyRing.Key.generate(id: "k2")
        let rotated = Sealer(ring: try SealingKeyRing(current: next, previous: [Self.key]))
        #expect(try rotated.open(sealedOld, name: "c", now: Self.now) == Array("a".utf8))
        let sealedNew = try rotated.seal(Array("b".utf8), name: "c", expires: nil)
        #expect(sealedNew.hasPrefix("a1.k2."))
        let removed = Sealer(ring: try SealingKeyRing(current: next))
        #expect(throws: SealError(.unknownKey, "sealed under key k1, which this ring does not hold")) {
            try removed.open(sealedOld, name: "c", now: Self.now)
        }
        #expect(throws: SealError.self) { try SealingKeyRing(current: next, previous: [next]) }
        #expect(throws: SealError.self) { try SealingKeyRing.Key(id: "k.1", bytes: Array(repeating: 1, count: 32)) }
        #expect(throws: SealError.self) { try SealingKeyRing.Key(id: "k1", bytes: Array(repeating: 1, count: 16)) }
    }

    @Test(
        "a cookie is checked against the 4,096-octet limit before it exists: the largest value fits, one byte more is refused with the sizes",
        arguments: Sealer.Mode.allCases
    )
    func sizeLimit(_ mode: Sealer.Mode) throws {
        let cookies = SealedCookie(sealer: Self.sealer(mode))
        let template = Cookie(name: "__Host-prefs", value: "", path: "/", secure: true, httpOnly: true, sameSite: .lax)
        let capacity = SealedCookie.capacity(name: template.name, keyID: "k1", mode: mode)
        #expect(capacity > 2900)
        let fits = try cookies.cookie(template, value: Array(repeating: 0x61, count: capacity), expires: nil)
        #expect(fits.name.utf8.count + fits.value.utf8.count <= 4096)
        try fits.validate()
        #expect(try cookies.open(fits.value, name: template.name, now: Self.now).count == capacity)
        #expect {
            _ = try cookies.cookie(template, value: Array(repeating: 0x61, count: capacity + 3), expires: nil)
        } throws: { error in
            guard let error = error as? SealError else { return false }
            return error.reason == .tooLarge && error.message.contains("4096") && error.message.contains("\(capacity + 3) of data")
        }
    }

    struct Vectors: Decodable {
        struct Case: Decodable {
            let tcId: Int
            let key, iv, aad, msg, ct, tag, result: String
        }
        let aesGCM: [Case]
        let chaChaPoly: [Case]
    }

    static func vectors() throws -> Vectors {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/aead-vectors.json")
        return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }

    @Test("Wycheproof AES-256-GCM and ChaCha20-Poly1305 vectors pass through the seal and open steps")
    func publishedVectors() throws {
        let vectors = try Self.vectors()
        #expect(vectors.aesGCM.count == 24 && vectors.chaChaPoly.count == 24)
        for (cases, seal, open) in [
            (vectors.aesGCM, Sealer.aesGCMSeal, Sealer.aesGCMOpen),
            (vectors.chaChaPoly, Sealer.chaChaPolySeal, Sealer.chaChaPolyOpen),
        ]
            as [(
                [Vectors.Case], ([UInt8], SymmetricKey, [UInt8], [UInt8]) throws(SealError) -> [UInt8],
                ([UInt8], SymmetricKey, [UInt8]) throws(SealError) -> [UInt8]
            )]
        {
            for test in cases {
                let key = SymmetricKey(data: try #require(Hex.decode(test.key)))
                let iv = try #require(Hex.decode(test.iv))
                let aad = try #require(Hex.decode(test.aad))
                let msg = try #require(Hex.decode(test.msg))
                let expected = try #require(Hex.decode(test.iv + test.ct + test.tag))
                if test.result == "valid" {
                    #expect(try seal(msg, key, iv, aad) == expected, "tcId \(test.tcId)")
                    #expect(try open(expected, key, aad) == msg, "tcId \(test.tcId)")
                } else {
                    #expect(throws: SealError.self, "tcId \(test.tcId)") { try open(expected, key, aad) }
                }
            }
        }
    }
}

@Suite("Replaceable sealing key rings")
struct ReplaceableSealingKeyRingTests {
    @Test("every copy of a replaceable ring takes new keys at its next seal and open; a fixed ring refuses")
    func replace() throws {
        let first = try SealingKeyRing.Key.generate(id: "s1")
        let second = try SealingKeyRing.Key.generate(id: "s2")
        let ring = SealingKeyRing.replaceable(SealingKeyRing(first))
        let sealer = Sealer(ring: ring)
        let before = try sealer.seal(Array("a".utf8), name: "c")
        #expect(before.hasPrefix("a1.s1."))
        #expect(ring.replaceKeys(with: try SealingKeyRing(current: second, previous: [first])))
        let after = try sealer.seal(Array("b".utf8), name: "c")
        #expect(after.hasPrefix("a1.s2."), "the sealer's copy did not see the new current key")
        #expect(try sealer.open(before, name: "c", now: Date()) == Array("a".utf8))
        ring.replaceKeys(with: SealingKeyRing(second))
        #expect(throws: SealError.self) { try sealer.open(before, name: "c", now: Date()) }
        let fixed = SealingKeyRing(first)
        #expect(!fixed.isReplaceable && !fixed.replaceKeys(with: SealingKeyRing(second)))
        #expect(fixed.current.id == "s1")
    }
}

import CloakroomCore
import Crypto
import Foundation
import JWTKit
import Testing
import _CryptoExtras

@testable import CloakroomTokens

/// Importing existing private keys as the ring's signing key (`importSigningKey`).
@Suite("Signing key import")
struct KeyImportTests {
    /// A private key held outside the ring: its JWK, and a signer that does not go through the
    /// ring (swift-crypto directly), standing for another tool such as PyJWT.
    struct OutsideKey {
        let jwk: [String: Any]
        let sign: @Sendable ([UInt8]) throws -> [UInt8]

        var json: Data { Data(TokenFixtures.json(jwk)) }
    }

    static let rsaCookbook = "jwk/3_4.rsa_private_key.json"

    /// The RFC 7520 section 3.4 RSA private key as a JWK dictionary.
    static func cookbookRSA() throws -> [String: Any] {
        let url = TestData.root.appendingPathComponent("jose-cookbook").appendingPathComponent(rsaCookbook)
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    static func member(_ jwk: [String: Any], _ name: String) throws -> [UInt8] {
        let text = try #require(jwk[name] as? String)
        return try #require(Base64URL.decode(text))
    }

    /// A key for `algorithm` made (or, for RSA, read from RFC 7520) outside the ring.
    static func outsideKey(_ algorithm: TokenAlgorithm, kid: String) throws -> OutsideKey {
        var jwk: [String: Any] = ["kid": kid, "alg": algorithm.name, "use": "sig"]
        let sign: @Sendable ([UInt8]) throws -> [UInt8]
        switch algorithm {
        case .eddsa:
            let key = Curve25519.Signing.PrivateKey()
            jwk.merge([
                "kty": "OKP", "crv": "Ed25519", "x": Base64URL.encode(key.publicKey.rawRepresentation),
                "d": Base64URL.encode(key.rawRepresentation),
            ]) { $1 }
            sign = { Array(try key.signature(for: $0)) }
        case .es256:
            let key = P256.Signing.PrivateKey()
            let point = Array(key.publicKey.x963Representation)
            jwk.merge([
                "kty": "EC", "crv": "P-256", "x": Base64URL.encode(point[1...32]), "y": Base64URL.encode(point[33...64]),
                "d": Base64URL.encode(key.rawRepresentation),
            ]) { $1 }
            sign = { Array(try key.signature(for: SHA256.hash(data: $0)).rawRepresentation) }
        case .es384:
            let key = P384.Signing.PrivateKey()
            let point = Array(key.publicKey.x963Representation)
            jwk.merge([
                "kty": "EC", "crv": "P-384", "x": Base64URL.encode(point[1...48]), "y": Base64URL.encode(point[49...96]),
                "d": Base64URL.encode(key.rawRepresentation),
            ]) { $1 }
            sign = { Array(try key.signature(for: SHA384.hash(data: $0)).rawRepresentation) }
        case .rs256, .ps256:
            let rsa = try cookbookRSA()
            for name in ["kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"] { jwk[name] = rsa[name] }
            let key = try _RSA.Signing.PrivateKey(
                n: try member(rsa, "n"),
                e: try member(rsa, "e"),
                d: try member(rsa, "d"),
                p: try member(rsa, "p"),
                q: try member(rsa, "q")
            )
            let padding: _RSA.Signing.Padding = algorithm == .rs256 ? .insecurePKCS1v1_5 : .PSS
            sign = { Array(try key.signature(for: SHA256.hash(data: $0), padding: padding).rawRepresentation) }
        case .hs256, .hs384, .hs512:
            let key = SymmetricKey(size: .init(bitCount: (algorithm.minimumSymmetricKeyBytes ?? 32) * 8))
            jwk.merge(["kty": "oct", "k": key.withUnsafeBytes { Base64URL.encode($0) }]) { $1 }
            sign = { bytes in
                switch algorithm {
                case .hs384: Array(HMAC<SHA384>.authenticationCode(for: bytes, using: key))
                case .hs512: Array(HMAC<SHA512>.authenticationCode(for: bytes, using: key))
                default: Array(HMAC<SHA256>.authenticationCode(for: bytes, using: key))
                }
            }
        default:
            throw TokenKeyError(.unsupportedAlgorithm, "no outside key for \(algorithm.name)")
        }
        return OutsideKey(jwk: jwk, sign: sign)
    }

    /// An access token with `kid` signed by `key` outside the ring.
    static func outsideToken(_ algorithm: TokenAlgorithm, kid: String, key: OutsideKey, now: Date) throws -> String {
        let header: [String: Any] = ["alg": algorithm.name, "kid": kid, "typ": "at+jwt"]
        let input = Base64URL.encode(TokenFixtures.json(header)) + "." + Base64URL.encode(TokenFixtures.json(TokenFixtures.claims(now: now)))
        return input + "." + Base64URL.encode(try key.sign(Array(input.utf8)))
    }

    @Test("an imported key signs, and tokens it signed elsewhere verify", arguments: TokenAlgorithm.signingAlgorithms)
    func importAndSign(_ algorithm: TokenAlgorithm) async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let previous = try await TokenFixtures.kid(ring)
        let key = try Self.outsideKey(algorithm, kid: "imported-\(algorithm.name)")

        let info = try await ring.importSigningKey(jwkJSON: key.json)
        #expect(info.kid == "imported-\(algorithm.name)")
        #expect(info.algorithm == algorithm)
        // Scheduled like a rotation: the previous key signs until the activation time, then
        // retires with the same grace.
        let activation = clock.now().addingTimeInterval(360)
        #expect(info.state == .next(activatesAt: activation))
        let states = await ring.list().map(\.state)
        #expect(states == [.retiring(signsUntil: activation, verifyUntil: activation.addingTimeInterval(600 + 30)), .next(activatesAt: activation)])
        #expect(await ring.list().first?.kid == previous)
        #expect(await ring.activeKey()?.kid == previous)

        // A token the outside tool signed with the key verifies through the ring, before the
        // activation time too...
        let verifier = TokenFixtures.verifier(ring, clock: clock)
        let outside = try Self.outsideToken(algorithm, kid: info.kid, key: key, now: clock.now())
        let claims = try await verifier.verify(outside)
        #expect(claims.subject == "user-1")

        // ...the ring signs with it from the activation time...
        clock.set(activation)
        #expect(await ring.list().map(\.state) == [.retired(verifyUntil: activation.addingTimeInterval(600 + 30)), .active])
        let issued = try await TokenFixtures.issuer(ring, clock: clock)
            .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        #expect(TokenVerifierTestHelpers.kid(of: issued.token) == info.kid)
        _ = try await verifier.verify(issued.token)

        // ...its public half is published (never for HMAC), without private members...
        let jwks = try #require(try JSONSerialization.jsonObject(with: Data(await ring.jwks().utf8)) as? [String: Any])
        let published = try #require(jwks["keys"] as? [[String: Any]])
        let mine = published.first { $0["kid"] as? String == info.kid }
        if algorithm.isSymmetric {
            #expect(mine == nil)
        } else {
            let jwk = try #require(mine)
            #expect(jwk["alg"] as? String == algorithm.name)
            for secret in ["d", "p", "q", "dp", "dq", "qi", "k"] { #expect(jwk[secret] == nil) }
            // ...and a verifier holding only the published JWKS accepts the outside token.
            let set = try await VerificationKeySet.load(jwkJSON: Data(await ring.jwks().utf8))
            _ = try await TokenFixtures.verifier(set, clock: clock).verify(outside)
        }

        // It survives a save and load as the active key.
        try await KeyFileTests.withDirectory { directory in
            let url = directory.appendingPathComponent("keys.json")
            let secret = try KeyEncryptionSecret(text: KeyFileTests.secretText)
            try await ring.save(to: url, secret: secret)
            let loaded = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            #expect(await loaded.activeKey()?.kid == info.kid)
            _ = try await TokenFixtures.verifier(loaded, clock: clock).verify(outside)
        }
    }

    @Test(
        "published vectors: the imported RFC 7520 / RFC 8037 keys reproduce the published signatures",
        arguments: [
            ("jws/4_1.rsa_v15_signature.json", TokenAlgorithm.rs256),
            ("jws/4_4.hmac-sha2_integrity_protection.json", .hs256),
            ("curve25519/jws.json", .eddsa),
        ]
    )
    func publishedSignatures(_ file: String, _ algorithm: TokenAlgorithm) async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let vector = try TestData.cookbook(file)
        let info = try await ring.importSigningKey(jwkJSON: vector.keyJSON, algorithm: algorithm, activateIn: 0)
        #expect(info.algorithm == algorithm)
        let parts = vector.compact.split(separator: ".").map(String.init)
        let signature = try ring.signingKey().signer.sign(Array((parts[0] + "." + parts[1]).utf8))
        // RS256, HS256 and Ed25519 are deterministic: the same bytes as published.
        #expect(Base64URL.encode(signature) == parts[2])
        if let kid = try TokenVerifier.decode(vector.compact).kid {
            #expect(info.kid == kid)
            let verified = try await JWSVerifier(keys: ring, clock: clock).verifySignatureOnly(vector.compact)
            #expect(verified.payload == Data(vector.payload.utf8))
        }
    }

    @Test("a key without kid gets a random one")
    func randomKid() async throws {
        let ring = TokenKeyRing(clock: TestClock(), logger: TokenFixtures.quiet)
        var jwk = try Self.outsideKey(.eddsa, kid: "x").jwk
        jwk["kid"] = nil
        let info = try await ring.importSigningKey(jwkJSON: Data(TokenFixtures.json(jwk)))
        #expect(info.kid.count == 22)
        #expect(await ring.activeKey()?.kid == info.kid)
    }

    /// A 1024-bit RSA private key (made with Python's cryptography for this test; never used elsewhere).
    static let weakRSA =
        #"{"kty":"RSA","key_ops":["sign"],"n":"rddU5C8glt8Vh55AgSrC-YEdytghmP0DI9nf0sihUkwz3uztwonaxSLCJk6MDI6e_QtczXiThwJ7_RyinoMRxc5ZuUDXhsJXWBixea1ofpFuiIYwxKDRqVNeEPERYAXRhMTi4HslLbMu3OREC2P2ct74la-4IzZfU9MDrBpBv7c","e":"AQAB","d":"aZfieLgnk3zuFvKJO-w9glBrSEsAHW2R-rTcv6weUV74IvDHeuNBf30dcSdE6lu3Nv0v4Z7b_aYEqjo6jQ4QPJYly9EmvwKOFbyCmMe4Z5MZyaXECHtlvprpByPT1n--Vf0HCHrJCwoZxejvsv1TFTvuhKZAFZpVwC7zHclGjAE","p":"2u4cnnJoTbVJeJbF3u-MIO3cqfeNryogPYmsOii_h6qGpP_dA5bfNAwYKuJeogDujLrxqlmKeOClPsys7psfyw","q":"y0bDYXPU7fave7qrGNtrx791H6JH0n0uiNDhwDOR9jLJ4mAY23TAYUQAy_ghxGOzJPF-2Hoy6UEvyJEMxpTKRQ","dp":"qISMhvItk1MuIKJ94OKnDFnLdxFUgDZ-5p9ocMQY2cbLKYrBhxfE6307xRbGHRF2jeEAUE3oJq9UwwgtPOUvDQ","dq":"liG-XbRiGBqwwq48fdBZCx8hjuqZJyHjg5LamMy9ydr69iHJWhQhnfTOrdamgdisz-U4rQObpGDLvNM8X1I3DQ","qi":"1DZjsbvv0Ohhv0INPepJXhh-dYPm8Wd6FgtBm-07-MlruXwlJzSrZrqKLZz8WoNyhgHujRZCyKxt72q9zdhOwg"}"#

    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let code: TokenKeyError.Code
        let algorithm: TokenAlgorithm?
        let json: @Sendable () throws -> Data
        var testDescription: String { name }
    }

    /// A change to one JWK member.
    enum Change: Sendable {
        case remove
        case text(String)
        case list([String])

        var value: Any? {
            switch self {
            case .remove: nil
            case .text(let text): text
            case .list(let list): list
            }
        }
    }

    static func changed(_ algorithm: TokenAlgorithm, _ changes: [String: Change]) -> @Sendable () throws -> Data {
        {
            var jwk = try outsideKey(algorithm, kid: "k").jwk
            for (name, change) in changes { jwk[name] = change.value }
            return Data(TokenFixtures.json(jwk))
        }
    }

    static func oct(bytes: Int, alg: String?) -> @Sendable () throws -> Data {
        {
            var jwk: [String: Any] = ["kty": "oct", "kid": "k", "k": Base64URL.encode([UInt8](repeating: 7, count: bytes))]
            jwk["alg"] = alg
            return Data(TokenFixtures.json(jwk))
        }
    }

    static let refusals: [Refusal] = [
        Refusal(name: "a public key", code: .invalidKey, algorithm: nil, json: changed(.es256, ["d": .remove])),
        Refusal(name: "use enc", code: .invalidKey, algorithm: nil, json: changed(.eddsa, ["use": .text("enc")])),
        Refusal(name: "key_ops without sign", code: .invalidKey, algorithm: nil, json: changed(.eddsa, ["key_ops": .list(["verify"])])),
        Refusal(name: "a 1024-bit RSA key", code: .invalidKey, algorithm: .rs256, json: { Data(weakRSA.utf8) }),
        Refusal(name: "an RSA key without alg or algorithm", code: .invalidKey, algorithm: nil, json: changed(.rs256, ["alg": .remove])),
        Refusal(name: "a 31-byte HS256 key", code: .invalidKey, algorithm: nil, json: oct(bytes: 31, alg: "HS256")),
        Refusal(name: "a 47-byte HS384 key", code: .invalidKey, algorithm: nil, json: oct(bytes: 47, alg: "HS384")),
        Refusal(name: "a 63-byte HS512 key", code: .invalidKey, algorithm: nil, json: oct(bytes: 63, alg: "HS512")),
        Refusal(name: "a 32-byte key for HS512", code: .invalidKey, algorithm: .hs512, json: oct(bytes: 32, alg: nil)),
        Refusal(
            name: "a P-521 key (verify-only algorithm)",
            code: .unsupportedAlgorithm,
            algorithm: nil,
            json: {
                try TestData.cookbook("jws/4_3.ecdsa_signature.json").keyJSON
            }
        ),
        Refusal(
            name: "a private member that does not match",
            code: .invalidKey,
            algorithm: nil,
            json: {
                var jwk = try outsideKey(.eddsa, kid: "k").jwk
                jwk["d"] = try outsideKey(.eddsa, kid: "k").jwk["d"]
                return Data(TokenFixtures.json(jwk))
            }
        ),
        Refusal(
            name: "two keys at once",
            code: .invalidKey,
            algorithm: nil,
            json: {
                Data(TokenFixtures.json(["keys": [try outsideKey(.eddsa, kid: "a").jwk, try outsideKey(.eddsa, kid: "b").jwk]]))
            }
        ),
        Refusal(name: "an empty kid", code: .invalidKey, algorithm: nil, json: changed(.eddsa, ["kid": .text("")])),
        Refusal(name: "a kid with a control character", code: .invalidKey, algorithm: nil, json: changed(.eddsa, ["kid": .text("a\nb")])),
        Refusal(name: "not JSON", code: .invalidKey, algorithm: nil, json: { Data("-----BEGIN PRIVATE KEY-----".utf8) }),
    ]

    @Test("refused imports leave the ring unchanged", arguments: refusals)
    func refused(_ refusal: Refusal) async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let before = await ring.list()
        let json = try refusal.json()
        await expectKeyError(refusal.code) { _ = try await ring.importSigningKey(jwkJSON: json, algorithm: refusal.algorithm) }
        #expect(await ring.list() == before)
    }

    @Test("the weak-RSA refusal names the modulus size")
    func weakRSAMessage() async throws {
        let ring = TokenKeyRing(clock: TestClock(), logger: TokenFixtures.quiet)
        do {
            try await ring.importSigningKey(jwkJSON: Data(Self.weakRSA.utf8), algorithm: .rs256)
            Issue.record("a 1024-bit key was imported")
        } catch {
            #expect(error.message.contains("1024-bit"))
            #expect(!error.message.contains("rddU5C8g"))
        }
    }

    @Test("a kid already in the ring is refused")
    func duplicateKid() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let existing = try await TokenFixtures.kid(ring)
        let key = try Self.outsideKey(.es256, kid: existing)
        await expectKeyError(.duplicateKid) { _ = try await ring.importSigningKey(jwkJSON: key.json) }
        #expect(await ring.activeKey()?.kid == existing)
        #expect(await ring.list().count == 1)
    }
}

/// The issuer writes the header by hand: any kid must come out as valid JSON.
@Suite("Issued header")
struct IssuedHeaderTests {
    @Test(
        "a kid with quotes, backslashes and non-ASCII round-trips through an issued token",
        arguments: [#"a"b"#, #"back\slash"#, "ключ-1", "emoji-😀", "tab\tkid", "del\u{7F}", "solidus/kid"]
    )
    func kidRoundTrip(_ kid: String) async throws {
        let clock = TestClock()
        let ring = TokenKeyRing(clock: clock, logger: TokenFixtures.quiet)
        var jwk = try KeyImportTests.outsideKey(.eddsa, kid: "x").jwk
        jwk["kid"] = kid
        if kid.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            // Imports refuse control characters; go through a generated key's path instead.
            #expect(AccessTokenIssuer.jsonString(kid).contains("\\u00") || AccessTokenIssuer.jsonString(kid).contains("\\t"))
            let decoded =
                try JSONSerialization.jsonObject(with: Data(AccessTokenIssuer.jsonString(kid).utf8), options: [.fragmentsAllowed]) as? String
            #expect(decoded == kid)
            return
        }
        try await ring.importSigningKey(jwkJSON: Data(TokenFixtures.json(jwk)))
        let issued = try await TokenFixtures.issuer(ring, clock: clock)
            .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        #expect(try TokenVerifier.decode(issued.token).kid == kid)
        _ = try await TokenFixtures.verifier(ring, clock: clock).verify(issued.token)
    }

    @Test("token IDs are 22 base64url characters and distinct")
    func tokenIDs() {
        let ids = (0..<1000).map { _ in AccessTokenIssuer.newTokenID() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.utf8.count == 22 && Base64URL.decodeCanonical($0)?.count == 16 })
    }
}

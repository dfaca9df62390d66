import CloakroomTokens
import Foundation
import Testing

/// JWK files for verification: `use`, `key_ops`, key types and sets.
@Suite("JWK files")
struct JWKUseTests {
    static let ed25519 = "curve25519/jws.json"
    static let hmac = "jws/4_4.hmac-sha2_integrity_protection.json"

    static func refusal(_ file: String, changing changes: [String: Any?]) async throws -> TokenError.Code? {
        let testCase = try TestData.cookbook(file)
        let keys = try await VerificationKeySet.load(jwkJSON: try TestData.cookbookKey(file, changing: changes))
        do {
            _ = try await JWSVerifier(keys: keys).verifySignatureOnly(testCase.compact)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("use: enc never verifies", arguments: [ed25519, hmac])
    func useEnc(_ file: String) async throws {
        #expect(try await Self.refusal(file, changing: ["use": "enc"]) == .keyUseMismatch)
        #expect(try await Self.refusal(file, changing: ["use": "sig"]) == nil)
        #expect(try await Self.refusal(file, changing: ["use": nil]) == nil)
    }

    @Test("key_ops without verify never verifies", arguments: [ed25519, hmac])
    func keyOps(_ file: String) async throws {
        #expect(try await Self.refusal(file, changing: ["key_ops": ["sign"]]) == .keyUseMismatch)
        #expect(try await Self.refusal(file, changing: ["key_ops": ["encrypt", "decrypt"]]) == .keyUseMismatch)
        #expect(try await Self.refusal(file, changing: ["key_ops": [String]()]) == .keyUseMismatch)
        #expect(try await Self.refusal(file, changing: ["key_ops": ["sign", "verify"]]) == nil)
        #expect(try await Self.refusal(file, changing: ["key_ops": ["verify"], "use": "enc"]) == .keyUseMismatch)
    }

    @Test("a JWK Set with several keys picks by kid; without kid nothing is chosen")
    func keySet() async throws {
        let hmacCase = try TestData.cookbook(Self.hmac)
        let edCase = try TestData.cookbook(Self.ed25519)
        let set = """
            {"keys": [\(String(decoding: hmacCase.keyJSON, as: UTF8.self)),
                      \(String(decoding: try TestData.cookbookKey(Self.ed25519, changing: ["kid": "ed"]), as: UTF8.self)),
                      {"kty": "oct", "kid": "enc-key", "use": "enc", "alg": "A256GCM", "k": "AAEC"},
                      {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": "AAEC"}]}
            """
        let keys = try await VerificationKeySet.load(jwkJSON: Data(set.utf8))
        #expect(keys.keys.count == 4)
        #expect(keys.keys.map(\.isUsable) == [true, true, false, false])
        let verifier = JWSVerifier(keys: keys)
        #expect(try await verifier.verifySignatureOnly(hmacCase.compact).algorithm == .hs256)
        // The Ed25519 cookbook token has no kid: with several keys, none is guessed.
        await expectRefusal(.missingKid) { _ = try await verifier.verifySignatureOnly(edCase.compact) }
    }

    @Test("private, public and symmetric JWKs all load for verification")
    func keyKinds() async throws {
        // The private Ed25519 key, and its public half.
        let edCase = try TestData.cookbook(Self.ed25519)
        for changes in [[:], ["d": nil]] as [[String: Any?]] {
            let keys = try await VerificationKeySet.load(jwkJSON: try TestData.cookbookKey(Self.ed25519, changing: changes))
            _ = try await JWSVerifier(keys: keys).verifySignatureOnly(edCase.compact)
        }
        // An RSA public key alone.
        let rsaCase = try TestData.cookbook("jws/4_1.rsa_v15_signature.json")
        let rsaPublic = try TestData.cookbookKey(
            "jws/4_1.rsa_v15_signature.json",
            changing: ["d": nil, "p": nil, "q": nil, "dp": nil, "dq": nil, "qi": nil]
        )
        _ = try await JWSVerifier(keys: try await VerificationKeySet.load(jwkJSON: rsaPublic, algorithm: .rs256)).verifySignatureOnly(rsaCase.compact)
    }

    @Test("inconsistent or weak keys are refused")
    func badKeys() async throws {
        // A private key whose d does not match x.
        // Loaded outside the refusal check, so a missing test file fails the test instead of
        // counting as the refusal (or crashing the run).
        let mismatched = try TestData.cookbookKey(Self.ed25519, changing: ["d": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
        await expectKeyError(.invalidKey) {
            _ = try await VerificationKeySet.load(jwkJSON: mismatched)
        }
        // An HMAC key shorter than the hash.
        await expectKeyError(.invalidKey) {
            _ = try await VerificationKeySet.load(jwkJSON: Data(#"{"kty":"oct","alg":"HS256","k":"c2hvcnQ"}"#.utf8))
        }
        // A declared alg that contradicts the requested one.
        let hmacKey = try TestData.cookbookKey(Self.hmac, changing: [:])
        await expectKeyError(.invalidKey) {
            _ = try await VerificationKeySet.load(jwkJSON: hmacKey, algorithm: .hs512)
        }
        // A key type that does not fit the algorithm.
        let mislabelled = try TestData.cookbookKey(Self.ed25519, changing: ["alg": "ES256"])
        await expectKeyError(.invalidKey) {
            _ = try await VerificationKeySet.load(jwkJSON: mislabelled)
        }
        // Padded base64url in a key member.
        let padded = try TestData.cookbookKey(Self.hmac, changing: ["k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg="])
        await expectKeyError(.invalidKey) {
            _ = try await VerificationKeySet.load(jwkJSON: padded)
        }
        // Not JSON at all.
        await expectKeyError(.invalidKey) { _ = try await VerificationKeySet.load(jwkJSON: Data("nope".utf8)) }
        // Duplicate kids.
        let key = String(decoding: try TestData.cookbook(Self.hmac).keyJSON, as: UTF8.self)
        await expectKeyError(.duplicateKid) { _ = try await VerificationKeySet.load(jwkJSON: Data(#"{"keys":[\#(key),\#(key)]}"#.utf8)) }
    }

    @Test("a JWK never prints its secret")
    func description() throws {
        let keys = try JSONWebKey.keys(fromJSON: try TestData.cookbook(Self.hmac).keyJSON)
        let text = String(describing: keys[0])
        #expect(text.contains("redacted"))
        #expect(!text.contains("hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"))
        #expect(keys[0].publicKey.k == nil)
    }

    @Test("a ring import skips keys not for signatures")
    func ringImportSkipsEncryptionKeys() async throws {
        let ring = TokenKeyRing(clock: TestClock(), logger: TokenFixtures.quiet)
        let encOnly = try TestData.cookbookKey(Self.ed25519, changing: ["kid": "e", "use": "enc", "d": nil])
        await expectKeyError(.invalidKey) { _ = try await ring.importVerificationKeys(jwkJSON: encOnly) }
        #expect(await ring.list().isEmpty)
    }

    @Test("a verification import holds kids to the same rule as a signing import: 1-256 bytes, printable")
    func ringImportChecksKids() async throws {
        let ring = TokenKeyRing(clock: TestClock(), logger: TokenFixtures.quiet)
        for kid in [String(repeating: "k", count: 257), "tab\there"] {
            let key = try TestData.cookbookKey(Self.ed25519, changing: ["kid": kid, "d": nil])
            await expectKeyError(.invalidKey) { _ = try await ring.importVerificationKeys(jwkJSON: key) }
        }
        #expect(await ring.list().isEmpty)
        let fine = try TestData.cookbookKey(Self.ed25519, changing: ["kid": String(repeating: "k", count: 256), "d": nil])
        #expect(try await ring.importVerificationKeys(jwkJSON: fine).count == 1)
    }
}

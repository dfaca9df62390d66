import CloakroomTokens
import Foundation
import Testing

/// RFC 7520 (JOSE cookbook) and RFC 8037 signatures, verified with the published keys through
/// `verifySignatureOnly`; data in `../shared/testdata/jose-cookbook/`.
@Suite("JOSE cookbook vectors")
struct JOSECookbookTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let file: String
        let algorithm: TokenAlgorithm
        /// Passed to the key loader when the JWK has no `alg` and its type fits several.
        let bind: TokenAlgorithm?
        var testDescription: String { "\(algorithm.name) \(file)" }
    }

    static let vectors: [Vector] = [
        Vector(file: "jws/4_1.rsa_v15_signature.json", algorithm: .rs256, bind: .rs256),
        Vector(file: "jws/4_2.rsa-pss_signature.json", algorithm: .ps384, bind: .ps384),
        Vector(file: "jws/4_3.ecdsa_signature.json", algorithm: .es512, bind: nil),
        Vector(file: "jws/4_4.hmac-sha2_integrity_protection.json", algorithm: .hs256, bind: nil),
        Vector(file: "curve25519/jws.json", algorithm: .eddsa, bind: nil),
    ]

    @Test("the published signature verifies", arguments: vectors)
    func verifies(_ vector: Vector) async throws {
        let testCase = try TestData.cookbook(vector.file)
        #expect(testCase.alg == vector.algorithm.name)
        let keys = try await VerificationKeySet.load(jwkJSON: testCase.keyJSON, algorithm: vector.bind)
        let verified = try await JWSVerifier(keys: keys).verifySignatureOnly(testCase.compact)
        #expect(verified.algorithm == vector.algorithm)
        #expect(verified.payload == Data(testCase.payload.utf8))
    }

    @Test("one changed signature byte is refused", arguments: vectors)
    func changedSignature(_ vector: Vector) async throws {
        let testCase = try TestData.cookbook(vector.file)
        let keys = try await VerificationKeySet.load(jwkJSON: testCase.keyJSON, algorithm: vector.bind)
        let tampered = testCase.compact.flippingByte(inSegment: 2)
        #expect(tampered != testCase.compact)
        await expectRefusal(.badSignature) { _ = try await JWSVerifier(keys: keys).verifySignatureOnly(tampered) }
    }

    @Test("one changed payload byte is refused", arguments: vectors)
    func changedPayload(_ vector: Vector) async throws {
        let testCase = try TestData.cookbook(vector.file)
        let keys = try await VerificationKeySet.load(jwkJSON: testCase.keyJSON, algorithm: vector.bind)
        let tampered = testCase.compact.flippingByte(inSegment: 1)
        #expect(tampered != testCase.compact)
        await expectRefusal(.badSignature) { _ = try await JWSVerifier(keys: keys).verifySignatureOnly(tampered) }
    }

    @Test("the key must be bound to the token's algorithm")
    func wrongBinding() async throws {
        // RFC 7520 4.1 is RS256; the same RSA key bound to PS256 must not accept it.
        let testCase = try TestData.cookbook("jws/4_1.rsa_v15_signature.json")
        let keys = try await VerificationKeySet.load(jwkJSON: testCase.keyJSON, algorithm: .ps256)
        await expectRefusal(.algMismatch) { _ = try await JWSVerifier(keys: keys).verifySignatureOnly(testCase.compact) }
    }

    @Test("an RSA key without alg needs an explicit algorithm")
    func rsaNeedsAlgorithm() async throws {
        let testCase = try TestData.cookbook("jws/4_1.rsa_v15_signature.json")
        await expectKeyError(.invalidKey) { _ = try await VerificationKeySet.load(jwkJSON: testCase.keyJSON) }
    }

    @Test("decode shows the payload without verifying, with the notice")
    func decode() throws {
        let testCase = try TestData.cookbook("jws/4_4.hmac-sha2_integrity_protection.json")
        let decoded = try TokenVerifier.decode(testCase.compact)
        #expect(decoded.algorithm == "HS256")
        #expect(decoded.kid == "018c0ae5-4d9b-471b-bfd6-eef314bc7037")
        #expect(decoded.payloadText == testCase.payload)
        #expect(decoded.payloadJSON == nil)
        #expect(decoded.headerJSON.contains("\"alg\" : \"HS256\""))
        #expect(UnverifiedToken.notice.contains("NOT VERIFIED"))
    }
}

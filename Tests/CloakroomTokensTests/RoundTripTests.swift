import CloakroomTokens
import Foundation
import JWTKit
import Testing

/// Issue → verify for every signing algorithm, and verification of tokens signed elsewhere
/// (by jwt-kit) with imported keys of the verify-only algorithms.
@Suite("Issue and verify")
struct RoundTripTests {
    @Test("issued tokens verify", arguments: TokenAlgorithm.signingAlgorithms)
    func roundTrip(_ algorithm: TokenAlgorithm) async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(algorithm, clock: clock)
        let issued = try await TokenFixtures.issuer(ring, clock: clock)
            .issue(subject: "user-42", audience: TokenFixtures.audience, clientID: "web", scope: "read write", epoch: 7)
        let claims = try await TokenFixtures.verifier(ring, clock: clock).verify(issued.token)
        #expect(claims == issued.claims)
        #expect(claims.subject == "user-42")
        #expect(claims.clientID == "web")
        #expect(claims.scopes == ["read", "write"])
        #expect(claims.epoch == 7)
        #expect(claims.audience == [TokenFixtures.audience])
        #expect(claims.issuer == TokenFixtures.issuer)
        #expect(claims.expiresAt.timeIntervalSince(claims.issuedAt) == 600)
        #expect(claims.notBefore == nil)
        #expect(!claims.tokenID.isEmpty)

        let decoded = try TokenVerifier.decode(issued.token)
        #expect(decoded.algorithm == algorithm.name)
        #expect(decoded.kid == (try await TokenFixtures.kid(ring)))
        #expect(decoded.headerJSON.contains("at+jwt"))
        let payload = try #require(try JSONSerialization.jsonObject(with: decoded.payload) as? [String: Any])
        #expect(payload["aud"] as? String == TokenFixtures.audience)
        #expect(payload["epoch"] as? Int == 7)
        #expect(Set(payload.keys) == ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "epoch"])
    }

    @Test("two issued tokens have different jti")
    func uniqueTokenIDs() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let issuer = TokenFixtures.issuer(ring, clock: clock)
        let first = try await issuer.issue(subject: "u", audience: "a", clientID: "c", scope: "", epoch: 0)
        let second = try await issuer.issue(subject: "u", audience: "a", clientID: "c", scope: "", epoch: 0)
        #expect(first.claims.tokenID != second.claims.tokenID)
        #expect(first.token != second.token)
    }

    @Test("an issuer lifetime above the ring's maximum is capped")
    func lifetimeCapped() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let issuer = AccessTokenIssuer(keyRing: ring, configuration: .init(issuer: TokenFixtures.issuer, lifetime: 86400), clock: clock)
        let issued = try await issuer.issue(subject: "u", audience: "a", clientID: "c", scope: "", epoch: 0)
        #expect(issued.claims.expiresAt.timeIntervalSince(issued.claims.issuedAt) == 600)
    }

    @Test("an empty ring cannot issue")
    func emptyRing() async throws {
        let clock = TestClock()
        let ring = TokenKeyRing(clock: clock, logger: TokenFixtures.quiet)
        let issuer = TokenFixtures.issuer(ring, clock: clock)
        await expectKeyError(.noActiveKey) {
            _ = try await issuer.issue(subject: "u", audience: "a", clientID: "c", scope: "", epoch: 0)
        }
    }

    @Test("verify-only algorithms cannot be generated", arguments: [TokenAlgorithm.es512, .rs384, .rs512, .ps384, .ps512])
    func verifyOnlyNotGenerated(_ algorithm: TokenAlgorithm) async throws {
        let ring = TokenKeyRing(clock: TestClock(), logger: TokenFixtures.quiet)
        await expectKeyError(.unsupportedAlgorithm) { try await ring.generate(algorithm) }
    }

    /// A token payload for jwt-kit, which checks nothing itself.
    struct ExternalClaims: JWTPayload {
        var iss: String
        var sub: String
        var aud: [String]
        var exp: Int
        var iat: Int
        var jti: String
        var client_id: String
        var scope: String
        var epoch: Int

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    @Test(
        "tokens signed by jwt-kit verify with imported public keys",
        arguments: [TokenAlgorithm.rs384, .rs512, .ps384, .ps512, .es512]
    )
    func importedVerifyOnly(_ algorithm: TokenAlgorithm) async throws {
        let clock = TestClock()
        let file = algorithm == .es512 ? "jws/4_3.ecdsa_signature.json" : "jws/4_1.rsa_v15_signature.json"
        let kid = "partner-\(algorithm.name)"
        // The other issuer signs with jwt-kit and the RFC 7520 private key.
        let privateJWK = try JWK(json: String(decoding: try TestData.cookbook(file: file, kid: kid, alg: algorithm), as: UTF8.self))
        let signer = try await JWTKeyCollection().add(jwk: privateJWK)
        let now = Int(clock.now().timeIntervalSince1970)
        let token = try await signer.sign(
            ExternalClaims(
                iss: "https://partner.test",
                sub: "p-1",
                aud: [TokenFixtures.audience, "other"],
                exp: now + 300,
                iat: now,
                jti: "x1",
                client_id: "partner-app",
                scope: "read",
                epoch: 0
            ),
            kid: JWKIdentifier(string: kid),
            header: ["typ": .string("at+jwt")]
        )

        // Cloakroom imports the public half (private members are dropped on import).
        let ring = try await TokenFixtures.ring(clock: clock)
        let imported = try await ring.importVerificationKeys(jwkJSON: try TestData.cookbook(file: file, kid: kid, alg: nil), algorithm: algorithm)
        #expect(imported.map(\.kid) == [kid])
        #expect(imported.first?.state == .external)
        #expect(!(await ring.jwks()).contains(kid))

        let verifier = TokenFixtures.verifier(ring, clock: clock, issuer: "https://partner.test")
        let claims = try await verifier.verify(token)
        #expect(claims.subject == "p-1")
        #expect(claims.audience == [TokenFixtures.audience, "other"])

        // The imported key cannot sign, and the header's alg cannot change its algorithm.
        let issued = try await TokenFixtures.issuer(ring, clock: clock).issue(subject: "u", audience: "a", clientID: "c", scope: "", epoch: 0)
        #expect(TokenVerifierTestHelpers.kid(of: issued.token) != kid)
    }

    @Test("an imported key accepts only its configured algorithm")
    func importedAlgorithmFixed() async throws {
        let clock = TestClock()
        let kid = "partner"
        let privateJWK = try JWK(
            json: String(decoding: try TestData.cookbook(file: "jws/4_1.rsa_v15_signature.json", kid: kid, alg: .rs512), as: UTF8.self)
        )
        let signer = try await JWTKeyCollection().add(jwk: privateJWK)
        let now = Int(clock.now().timeIntervalSince1970)
        let token = try await signer.sign(
            ExternalClaims(
                iss: "https://partner.test",
                sub: "p",
                aud: [TokenFixtures.audience],
                exp: now + 300,
                iat: now,
                jti: "x",
                client_id: "c",
                scope: "",
                epoch: 0
            ),
            kid: JWKIdentifier(string: kid),
            header: ["typ": .string("at+jwt")]
        )
        let ring = TokenKeyRing(clock: clock, logger: TokenFixtures.quiet)
        try await ring.importVerificationKeys(
            jwkJSON: try TestData.cookbook(file: "jws/4_1.rsa_v15_signature.json", kid: kid, alg: nil),
            algorithm: .rs384
        )
        let verifier = TokenFixtures.verifier(ring, clock: clock, issuer: "https://partner.test")
        await expectRefusal(.algMismatch) { _ = try await verifier.verify(token) }
    }

    @Test("symmetric keys cannot be imported into the ring")
    func symmetricImportRefused() async throws {
        let ring = TokenKeyRing(clock: TestClock(), logger: TokenFixtures.quiet)
        let key = try TestData.cookbook("jws/4_4.hmac-sha2_integrity_protection.json").keyJSON
        await expectKeyError(.secretMaterialRefused) { _ = try await ring.importVerificationKeys(jwkJSON: key) }
    }
}

/// Small helpers shared by the verification tests.
enum TokenVerifierTestHelpers {
    /// The `kid` header of a token, read without verification.
    static func kid(of token: String) -> String? {
        (try? TokenVerifier.decode(token))?.kid
    }
}

extension TestData {
    /// The cookbook key of `file` with `kid` set and `alg` set (or removed when nil).
    static func cookbook(file: String, kid: String, alg: TokenAlgorithm?) throws -> Data {
        try cookbookKey(file, changing: ["kid": kid, "alg": alg?.name])
    }
}

import CloakroomTokens
import Foundation
import Testing

/// Rotation, retirement and pruning, with a manual clock.
@Suite("Key rotation")
struct KeyRotationTests {
    static func kids(inJWKS json: String) throws -> [String] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let keys = try #require(object["keys"] as? [[String: Any]])
        return keys.compactMap { $0["kid"] as? String }
    }

    @Test("old tokens verify until they expire, then the pruned key is unknown")
    func rotation() async throws {
        let clock = TestClock()
        let start = clock.now()
        let ring = try await TokenFixtures.ring(clock: clock)
        let issuer = TokenFixtures.issuer(ring, clock: clock)
        let verifier = TokenFixtures.verifier(ring, clock: clock)
        let oldKid = try await TokenFixtures.kid(ring)
        let old = try await issuer.issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)

        clock.advance(by: 60)
        let rotated = try await ring.rotate()
        #expect(rotated.kid != oldKid)
        #expect(rotated.algorithm == .eddsa)
        let new = try await issuer.issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        #expect(TokenVerifierTestHelpers.kid(of: new.token) == rotated.kid)
        #expect(TokenVerifierTestHelpers.kid(of: old.token) == oldKid)

        // Overlap: both verify, both are published.
        _ = try await verifier.verify(old.token)
        _ = try await verifier.verify(new.token)
        #expect(Set(try Self.kids(inJWKS: await ring.jwks())) == [oldKid, rotated.kid])
        let states = await ring.list().map(\.state)
        #expect(states == [.retired(verifyUntil: start.addingTimeInterval(60 + 600 + 30)), .active])

        // The old token stays valid until its own expiry plus leeway.
        clock.set(old.claims.expiresAt.addingTimeInterval(29))
        _ = try await verifier.verify(old.token)
        clock.set(old.claims.expiresAt.addingTimeInterval(30))
        await expectRefusal(.expired) { _ = try await verifier.verify(old.token) }

        // Past the retired key's period it no longer verifies, even before pruning...
        clock.set(start.addingTimeInterval(60 + 600 + 30))
        await expectRefusal(.unknownKid) { _ = try await verifier.verify(old.token, now: clock.now()) }
        #expect(try Self.kids(inJWKS: await ring.jwks()) == [rotated.kid])
        // ...and pruning removes it.
        let pruned = await ring.prune()
        #expect(pruned.map(\.kid) == [oldKid])
        #expect(await ring.list().map(\.kid) == [rotated.kid])
        await expectRefusal(.unknownKid) { _ = try await verifier.verify(old.token, now: start) }
        _ = try await verifier.verify(new.token, now: start.addingTimeInterval(120))
    }

    @Test("prune at an earlier time keeps the retired key")
    func pruneEarly() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        try await ring.rotate()
        #expect(await ring.prune(now: clock.now().addingTimeInterval(629)).isEmpty)
        #expect(await ring.list().count == 2)
        #expect(await ring.prune(now: clock.now().addingTimeInterval(630)).count == 1)
    }

    @Test("the JWKS never holds private or symmetric material", arguments: TokenAlgorithm.signingAlgorithms)
    func jwksPublicOnly(_ algorithm: TokenAlgorithm) async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(algorithm, clock: clock)
        try await ring.generate(.eddsa)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(await ring.jwks().utf8)) as? [String: Any])
        let keys = try #require(object["keys"] as? [[String: Any]])
        #expect(keys.count == (algorithm.isSymmetric ? 1 : 2))
        for key in keys {
            for secret in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                #expect(key[secret] == nil)
            }
            #expect(key["use"] as? String == "sig")
            #expect(key["kid"] is String)
            #expect(key["alg"] is String)
            #expect(key["kty"] as? String != "oct")
        }
        let published = keys.first { $0["alg"] as? String == algorithm.name }
        #expect((published == nil) == algorithm.isSymmetric)
        switch algorithm.keyType {
        case .okp: #expect(published?["crv"] as? String == "Ed25519")
        case .ec: #expect(published?["crv"] as? String == algorithm.curve)
        case .rsa: #expect(published?["n"] is String && published?["e"] as? String == "AQAB")
        case .oct: break
        }
    }

    @Test("the JWKS verifies tokens on its own, as a relying party would use it", arguments: [TokenAlgorithm.eddsa, .es256, .es384, .rs256, .ps256])
    func jwksUsableByRelyingParty(_ algorithm: TokenAlgorithm) async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(algorithm, clock: clock)
        let issued = try await TokenFixtures.issuer(ring, clock: clock)
            .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        let keys = try await VerificationKeySet.load(jwkJSON: Data(await ring.jwks().utf8))
        let claims = try await TokenFixtures.verifier(keys, clock: clock).verify(issued.token)
        #expect(claims == issued.claims)
    }

    @Test("retire stops signing; remove refuses at once")
    func retireAndRemove() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let issuer = TokenFixtures.issuer(ring, clock: clock)
        let verifier = TokenFixtures.verifier(ring, clock: clock)
        let kid = try await TokenFixtures.kid(ring)
        let issued = try await issuer.issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        let retired = try await ring.retire(kid: kid)
        #expect(retired.state == .retired(verifyUntil: clock.now().addingTimeInterval(630)))
        #expect(await ring.activeKey() == nil)
        await expectKeyError(.noActiveKey) {
            _ = try await issuer.issue(subject: "u", audience: "a", clientID: "c", scope: "", epoch: 0)
        }
        _ = try await verifier.verify(issued.token)
        try await ring.remove(kid: kid)
        await expectRefusal(.unknownKid) { _ = try await verifier.verify(issued.token) }
        await expectKeyError(.unknownKid) { _ = try await ring.retire(kid: kid) }
        await expectKeyError(.unknownKid) { _ = try await ring.remove(kid: "../../etc/passwd") }
    }

    @Test("rotate keeps the algorithm; generate switches it; kids are random base64url")
    func generateAndRotate() async throws {
        let clock = TestClock()
        let ring = TokenKeyRing(configuration: .init(algorithm: .es256), clock: clock, logger: TokenFixtures.quiet)
        let first = try await ring.rotate()
        #expect(first.algorithm == .es256)
        let second = try await ring.generate(.hs384)
        #expect(second.algorithm == .hs384)
        let third = try await ring.rotate()
        #expect(third.algorithm == .hs384)
        let infos = await ring.list()
        #expect(infos.filter { $0.state == .active }.map(\.kid) == [third.kid])
        #expect(Set(infos.map(\.kid)).count == 3)
        for info in infos {
            #expect(info.kid.count == 22)
            #expect(info.kid.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        }
    }
}

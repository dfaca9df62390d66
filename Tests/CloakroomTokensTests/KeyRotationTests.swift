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

    static func issue(_ issuer: AccessTokenIssuer) async throws -> (token: String, claims: AccessTokenClaims) {
        try await issuer.issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
    }

    @Test("a rotated key is published before it signs; at its activation time it signs, and the old key verifies until its tokens expire")
    func scheduledRotation() async throws {
        let clock = TestClock()
        let start = clock.now()
        let ring = try await TokenFixtures.ring(clock: clock)
        let issuer = TokenFixtures.issuer(ring, clock: clock)
        let verifier = TokenFixtures.verifier(ring, clock: clock)
        let oldKid = try await TokenFixtures.kid(ring)

        clock.advance(by: 60)
        let rotated = try await ring.rotate()
        let activation = start.addingTimeInterval(60 + 360)
        let oldUntil = activation.addingTimeInterval(600 + 30)
        #expect(rotated.kid != oldKid)
        #expect(rotated.algorithm == .eddsa)
        #expect(rotated.state == .next(activatesAt: activation))
        #expect(await ring.list().map(\.state) == [.retiring(signsUntil: activation, verifyUntil: oldUntil), .next(activatesAt: activation)])
        #expect(await ring.activeKey()?.kid == oldKid)
        #expect(await ring.nextKey()?.kid == rotated.kid)

        // Before the activation time the old key signs, and the JWKS already has the new key:
        // a verifier that caches this JWKS will know the new kid when it first sees it.
        #expect(Set(try Self.kids(inJWKS: await ring.jwks())) == [oldKid, rotated.kid])
        let cached = TokenFixtures.verifier(try await VerificationKeySet.load(jwkJSON: Data(await ring.jwks().utf8)), clock: clock)
        let before = try await Self.issue(issuer)
        #expect(TokenVerifierTestHelpers.kid(of: before.token) == oldKid)
        clock.set(activation.addingTimeInterval(-1))
        let last = try await Self.issue(issuer)
        #expect(TokenVerifierTestHelpers.kid(of: last.token) == oldKid)
        _ = try await cached.verify(last.token)

        // At the activation time the new key signs, with no change to the ring.
        clock.set(activation)
        let after = try await Self.issue(issuer)
        #expect(TokenVerifierTestHelpers.kid(of: after.token) == rotated.kid)
        _ = try await verifier.verify(after.token)
        _ = try await cached.verify(after.token)
        _ = try await verifier.verify(last.token)
        #expect(await ring.list().map(\.state) == [.retired(verifyUntil: oldUntil), .active])
        #expect(await ring.activeKey()?.kid == rotated.kid)
        #expect(await ring.nextKey() == nil)

        // The old key's last token (signed a second before the switch) stays valid until its
        // own expiry plus leeway, a second before the end of the old key's period...
        clock.set(oldUntil.addingTimeInterval(-2))
        _ = try await verifier.verify(last.token)
        clock.set(oldUntil.addingTimeInterval(-1))
        await expectRefusal(.expired) { _ = try await verifier.verify(last.token) }
        #expect(Set(try Self.kids(inJWKS: await ring.jwks())) == [oldKid, rotated.kid])
        // ...then the key no longer verifies, even before pruning...
        clock.set(oldUntil)
        await expectRefusal(.unknownKid) { _ = try await verifier.verify(last.token) }
        #expect(try Self.kids(inJWKS: await ring.jwks()) == [rotated.kid])
        // ...and pruning removes it.
        let pruned = await ring.prune()
        #expect(pruned.map(\.kid) == [oldKid])
        #expect(await ring.list().map(\.kid) == [rotated.kid])
        await expectRefusal(.unknownKid) { _ = try await verifier.verify(before.token, now: start.addingTimeInterval(100)) }
        _ = try await verifier.verify(after.token, now: activation.addingTimeInterval(120))
    }

    @Test("--now: the new key signs at once; the old one verifies what servers that have not reloaded yet sign with it")
    func emergencyRotation() async throws {
        try await KeyFileTests.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            let secret = try KeyEncryptionSecret(text: KeyFileTests.secretText)
            try await TokenFixtures.ring(clock: clock).save(to: url, secret: secret)
            // Two servers and the operator's command, each with the key file.
            let first = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            let second = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            let command = try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet)
            let oldKid = try await TokenFixtures.kid(command)
            let start = clock.now()

            let rotated = try await command.rotate(activateIn: 0)
            #expect(rotated.state == .active)
            // The old key's period counts from when the last server may still sign with it.
            #expect(await command.list().first?.state == .retired(verifyUntil: start.addingTimeInterval(30 + 600 + 30)))
            try await command.save(to: url, secret: secret)
            try await first.reload(from: url, secret: secret)
            let new = try await Self.issue(TokenFixtures.issuer(first, clock: clock))
            #expect(TokenVerifierTestHelpers.kid(of: new.token) == rotated.kid)

            // The second server reloads 25 s later; until then it signs with the old key.
            clock.advance(by: 25)
            let late = try await Self.issue(TokenFixtures.issuer(second, clock: clock))
            #expect(TokenVerifierTestHelpers.kid(of: late.token) == oldKid)
            try await second.reload(from: url, secret: secret)
            // Its token verifies everywhere until it expires.
            for ring in [first, second] {
                let verifier = TokenFixtures.verifier(ring, clock: clock)
                _ = try await verifier.verify(late.token)
                _ = try await verifier.verify(late.token, now: late.claims.expiresAt.addingTimeInterval(29))
                await expectRefusal(.expired) { _ = try await verifier.verify(late.token, now: late.claims.expiresAt.addingTimeInterval(30)) }
            }
        }
    }

    @Test("servers that loaded the key file switch together at the activation time, with no reload")
    func switchWithoutReload() async throws {
        try await KeyFileTests.withDirectory { directory in
            let clock = TestClock()
            let url = directory.appendingPathComponent("keys.json")
            let secret = try KeyEncryptionSecret(text: KeyFileTests.secretText)
            let command = try await TokenFixtures.ring(.es256, clock: clock)
            let oldKid = try await TokenFixtures.kid(command)
            let rotated = try await command.rotate(activateIn: 120)
            #expect(rotated.algorithm == .es256)
            try await command.save(to: url, secret: secret)
            let servers = [
                try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet),
                try await TokenKeyRing.load(from: url, secret: secret, clock: clock, logger: TokenFixtures.quiet),
            ]
            clock.advance(by: 119)
            for server in servers {
                #expect(TokenVerifierTestHelpers.kid(of: try await Self.issue(TokenFixtures.issuer(server, clock: clock)).token) == oldKid)
            }
            clock.advance(by: 1)
            for server in servers {
                let token = try await Self.issue(TokenFixtures.issuer(server, clock: clock)).token
                #expect(TokenVerifierTestHelpers.kid(of: token) == rotated.kid)
                for other in servers { _ = try await TokenFixtures.verifier(other, clock: clock).verify(token) }
            }
        }
    }

    @Test("a second rotation replaces the waiting next key; removing or retiring the next key cancels the switch")
    func pendingNextKey() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let oldKid = try await TokenFixtures.kid(ring)
        let first = try await ring.rotate()
        clock.advance(by: 10)
        let second = try await ring.rotate(activateIn: 60)
        let activation = clock.now().addingTimeInterval(60)
        #expect(await ring.list().map(\.kid) == [oldKid, second.kid], "the first next key never signed: it is gone")
        #expect(
            await ring.list().map(\.state) == [
                .retiring(signsUntil: activation, verifyUntil: activation.addingTimeInterval(600 + 30)),
                .next(activatesAt: activation),
            ]
        )
        #expect(first.kid != second.kid)

        try await ring.remove(kid: second.kid)
        #expect(await ring.list().map(\.state) == [.active], "the old key signs on")
        clock.advance(by: 3600)
        #expect(await ring.activeKey()?.kid == oldKid)

        let third = try await ring.rotate()
        try await ring.retire(kid: third.kid)
        #expect(await ring.list().first?.state == .active)
        clock.advance(by: 3600)
        #expect(await ring.activeKey()?.kid == oldKid)
        _ = try await Self.issue(TokenFixtures.issuer(ring, clock: clock))
    }

    @Test("the first key of an empty ring, or of a ring where no key signs, activates at once")
    func firstKeyAtOnce() async throws {
        let clock = TestClock()
        let ring = TokenKeyRing(clock: clock, logger: TokenFixtures.quiet)
        let first = try await ring.rotate()
        #expect(first.state == .active)
        try await ring.retire(kid: first.kid)
        let second = try await ring.generate()
        #expect(second.state == .active)
        #expect(await ring.activeKey()?.kid == second.kid)
    }

    @Test("a retired key's period is never shortened by retiring it again")
    func retireTwice() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let kid = try await TokenFixtures.kid(ring)
        try await ring.rotate(activateIn: 0)
        let until = clock.now().addingTimeInterval(30 + 600 + 30)
        clock.advance(by: 20)
        #expect(try await ring.retire(kid: kid).state == .retired(verifyUntil: until.addingTimeInterval(20)))
        clock.advance(by: -10)
        #expect(try await ring.retire(kid: kid).state == .retired(verifyUntil: until.addingTimeInterval(20)))
    }

    @Test("prune at an earlier time keeps the retired key")
    func pruneEarly() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        try await ring.rotate(activateIn: 0)
        #expect(await ring.prune(now: clock.now().addingTimeInterval(659)).isEmpty)
        #expect(await ring.list().count == 2)
        #expect(await ring.prune(now: clock.now().addingTimeInterval(660)).count == 1)
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
        #expect(retired.state == .retired(verifyUntil: clock.now().addingTimeInterval(30 + 630)))
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

    @Test("rotate keeps the algorithm of the newest key; generate switches it; kids are random base64url")
    func generateAndRotate() async throws {
        let clock = TestClock()
        let ring = TokenKeyRing(configuration: .init(algorithm: .es256), clock: clock, logger: TokenFixtures.quiet)
        let first = try await ring.rotate()
        #expect(first.algorithm == .es256)
        let second = try await ring.generate(.hs384, activateIn: 0)
        #expect(second.algorithm == .hs384)
        let third = try await ring.rotate()
        #expect(third.algorithm == .hs384)
        let fourth = try await ring.generate(.eddsa)
        #expect(try await ring.rotate().algorithm == .eddsa, "a waiting next key's algorithm")
        let infos = await ring.list()
        #expect(infos.filter { $0.signs(at: clock.now()) }.map(\.kid) == [second.kid])
        #expect(!infos.map(\.kid).contains(third.kid) && !infos.map(\.kid).contains(fourth.kid))
        #expect(Set(infos.map(\.kid)).count == 3)
        for info in infos {
            #expect(info.kid.count == 22)
            #expect(info.kid.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        }
    }

    @Test("an external key cannot be retired (it would be published as our own)")
    func externalNotRetired() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(clock: clock)
        let partner = try TestData.cookbook(file: "jws/4_3.ecdsa_signature.json", kid: "partner", alg: .es512)
        try await ring.importVerificationKeys(jwkJSON: partner)
        await expectKeyError(.invalidKey) { _ = try await ring.retire(kid: "partner") }
        #expect(try !Self.kids(inJWKS: await ring.jwks()).contains("partner"))
    }
}

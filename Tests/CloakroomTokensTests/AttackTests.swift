import CloakroomCore
import CloakroomTokens
import Crypto
import Foundation
import Testing
import _CryptoExtras

/// Tokens an attacker would try, and the exact refusal each one gets.
@Suite("Attacks and refusals")
struct AttackTests {
    /// A ring with one EdDSA key, its verifier, a valid header and claims.
    struct Setup {
        let clock = TestClock()
        let ring: TokenKeyRing
        let verifier: TokenVerifier
        let kid: String

        init(_ algorithm: TokenAlgorithm = .eddsa) async throws {
            ring = try await TokenFixtures.ring(algorithm, clock: clock)
            verifier = TokenFixtures.verifier(ring, clock: clock)
            kid = try await TokenFixtures.kid(ring)
        }

        func header(_ changes: [String: Any] = [:], alg: TokenAlgorithm = .eddsa) -> [String: Any] {
            var header: [String: Any] = ["alg": alg.name, "kid": kid, "typ": "at+jwt"]
            header.merge(changes) { $1 }
            return header
        }

        var claims: [String: Any] { TokenFixtures.claims(now: clock.now()) }

        func forge(_ header: [String: Any], _ claims: [String: Any]? = nil) async throws -> String {
            try await TokenFixtures.forge(header: header, payload: claims ?? self.claims, ring: ring)
        }
    }

    @Test("a forged token with the right header and claims is accepted (control)")
    func control() async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header())
        let claims = try await setup.verifier.verify(token)
        #expect(claims.epoch == 3)
    }

    // MARK: alg

    @Test(
        "alg none is refused in every casing, with or without a signature",
        arguments: ["none", "None", "NONE", "nOnE"],
        ["", "c2lnbmF0dXJl"]
    )
    func algNone(_ alg: String, _ signature: String) async throws {
        let setup = try await Setup()
        let token = TokenFixtures.unsigned(header: setup.header(["alg": alg]), payload: setup.claims, signature: signature)
        await expectRefusal(.algNone) { _ = try await setup.verifier.verify(token) }
        await expectRefusal(.algNone) { _ = try await setup.verifier.verifySignatureOnly(token) }
    }

    @Test("alg none is refused even with a signature made by the real key")
    func algNoneSigned() async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header(["alg": "none"]))
        await expectRefusal(.algNone) { _ = try await setup.verifier.verify(token) }
    }

    @Test("HS256 signed with the RSA public key's PEM or DER bytes is refused", arguments: [TokenAlgorithm.rs256, .ps256])
    func hmacWithRSAPublicKey(_ algorithm: TokenAlgorithm) async throws {
        let setup = try await Setup(algorithm)
        let published = try await Self.publishedKeys(setup.ring)
        let jwk = try #require(published.first)
        let publicKey = try _RSA.Signing.PublicKey(
            n: try Self.member(jwk, "n"),
            e: try Self.member(jwk, "e")
        )
        let secrets: [[UInt8]] = [
            Array(publicKey.pemRepresentation.utf8),
            Array((publicKey.pemRepresentation + "\n").utf8),
            Array(publicKey.derRepresentation),
            Array(publicKey.pkcs1DERRepresentation),
            Array(publicKey.pkcs1PEMRepresentation.utf8),
        ]
        for secret in secrets {
            let token = Self.hmacToken(header: setup.header(["alg": "HS256"]), claims: setup.claims, secret: secret)
            await expectRefusal(.algMismatch) { _ = try await setup.verifier.verify(token) }
        }
    }

    @Test("HS256 signed with the EC public key bytes is refused", arguments: [TokenAlgorithm.es256, .es384])
    func hmacWithECPublicKey(_ algorithm: TokenAlgorithm) async throws {
        let setup = try await Setup(algorithm)
        let published = try await Self.publishedKeys(setup.ring)
        let jwk = try #require(published.first)
        let x = try Self.member(jwk, "x")
        let y = try Self.member(jwk, "y")
        let point = [0x04] + x + y
        var secrets: [[UInt8]] = [point, x + y]
        if algorithm == .es256 {
            let key = try P256.Signing.PublicKey(x963Representation: point)
            secrets += [Array(key.pemRepresentation.utf8), Array(key.derRepresentation)]
        } else {
            let key = try P384.Signing.PublicKey(x963Representation: point)
            secrets += [Array(key.pemRepresentation.utf8), Array(key.derRepresentation)]
        }
        for secret in secrets {
            let token = Self.hmacToken(header: setup.header(["alg": "HS256"]), claims: setup.claims, secret: secret)
            await expectRefusal(.algMismatch) { _ = try await setup.verifier.verify(token) }
        }
    }

    @Test("HS256 signed with the Ed25519 public key bytes is refused")
    func hmacWithOKPPublicKey() async throws {
        let setup = try await Setup(.eddsa)
        let published = try await Self.publishedKeys(setup.ring)
        let jwk = try #require(published.first)
        let x = try Self.member(jwk, "x")
        let token = Self.hmacToken(header: setup.header(["alg": "HS256"]), claims: setup.claims, secret: x)
        await expectRefusal(.algMismatch) { _ = try await setup.verifier.verify(token) }
    }

    @Test("an alg of the right family but another strength is refused", arguments: ["ES256", "RS256", "HS512", "EDDSA", "eddsa", "Ed25519"])
    func otherAlgorithms(_ alg: String) async throws {
        let setup = try await Setup(.eddsa)
        let token = try await setup.forge(setup.header(["alg": alg]))
        await expectRefusal(.algMismatch) { _ = try await setup.verifier.verify(token) }
    }

    @Test("a non-string alg is malformed")
    func algNotString() async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header(["alg": 1]))
        await expectRefusal(.malformed) { _ = try await setup.verifier.verify(token) }
    }

    // MARK: kid

    @Test("a kid naming no key is refused", arguments: ["../../etc/passwd", "' OR 1=1 --", "", "../../../../dev/null", "%00"])
    func unknownKid(_ kid: String) async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header(["kid": kid]))
        await expectRefusal(.unknownKid) { _ = try await setup.verifier.verify(token) }
    }

    @Test("a token without kid is refused by the ring")
    func missingKid() async throws {
        let setup = try await Setup()
        var header = setup.header()
        header["kid"] = nil
        let token = try await setup.forge(header)
        await expectRefusal(.missingKid) { _ = try await setup.verifier.verify(token) }
    }

    // MARK: header parameters

    @Test("keys or key locations in the header are refused", arguments: ["jwk", "jku", "x5u", "x5c"])
    func embeddedKey(_ parameter: String) async throws {
        let setup = try await Setup()
        let published = try await Self.publishedKeys(setup.ring)
        let jwk = try #require(published.first)
        let values: [String: Any] = [
            "jwk": jwk, "jku": "https://attacker.test/jwks.json", "x5u": "https://attacker.test/cert.pem",
            "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
        ]
        let token = try await setup.forge(setup.header([parameter: values[parameter]!]))
        await expectRefusal(.embeddedKeyRefused) { _ = try await setup.verifier.verify(token) }
        await expectRefusal(.embeddedKeyRefused) { _ = try await setup.verifier.verifySignatureOnly(token) }
    }

    @Test("an unknown crit extension is refused", arguments: [["exp"], ["b64"], ["urn:example:ext"]])
    func unsupportedCrit(_ crit: [String]) async throws {
        let setup = try await Setup()
        var header = setup.header(["crit": crit])
        for name in crit { header[name] = false }
        let token = try await setup.forge(header)
        await expectRefusal(.unsupportedCrit) { _ = try await setup.verifier.verify(token) }
    }

    @Test("a wrong typ is refused", arguments: ["JWT", "jwt", "at+jws", "application/jwt", "", "at+jwt; charset=x"])
    func wrongType(_ typ: String) async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header(["typ": typ]))
        await expectRefusal(.wrongType) { _ = try await setup.verifier.verify(token) }
        // Signature-only verification does not look at typ.
        _ = try await setup.verifier.verifySignatureOnly(token)
    }

    @Test("a missing typ is refused")
    func missingType() async throws {
        let setup = try await Setup()
        var header = setup.header()
        header["typ"] = nil
        let token = try await setup.forge(header)
        await expectRefusal(.wrongType) { _ = try await setup.verifier.verify(token) }
    }

    @Test(
        "typ is matched case-insensitively, with or without application/",
        arguments: ["at+jwt", "AT+JWT", "At+Jwt", "application/at+jwt", "Application/AT+JWT"]
    )
    func acceptedTypes(_ typ: String) async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header(["typ": typ]))
        _ = try await setup.verifier.verify(token)
    }

    // MARK: claims

    @Test("expiry: accepted within the leeway, refused beyond it")
    func expiry() async throws {
        let setup = try await Setup()
        let issued = try await TokenFixtures.issuer(setup.ring, clock: setup.clock)
            .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        let exp = issued.claims.expiresAt
        _ = try await setup.verifier.verify(issued.token, now: exp)
        _ = try await setup.verifier.verify(issued.token, now: exp.addingTimeInterval(29))
        await expectRefusal(.expired) { _ = try await setup.verifier.verify(issued.token, now: exp.addingTimeInterval(30)) }
        await expectRefusal(.expired) { _ = try await setup.verifier.verify(issued.token, now: exp.addingTimeInterval(3600)) }
    }

    @Test("not before: accepted within the leeway, refused beyond it")
    func notBefore() async throws {
        let setup = try await Setup()
        let nbf = setup.clock.now().addingTimeInterval(120)
        let issued = try await TokenFixtures.issuer(setup.ring, clock: setup.clock)
            .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0, notBefore: nbf)
        await expectRefusal(.notYetValid) { _ = try await setup.verifier.verify(issued.token) }
        await expectRefusal(.notYetValid) { _ = try await setup.verifier.verify(issued.token, now: nbf.addingTimeInterval(-31)) }
        _ = try await setup.verifier.verify(issued.token, now: nbf.addingTimeInterval(-30))
        _ = try await setup.verifier.verify(issued.token, now: nbf)
    }

    @Test("issued in the future: accepted within the leeway, refused beyond it")
    func issuedInFuture() async throws {
        let setup = try await Setup()
        var claims = setup.claims
        let now = Int(setup.clock.now().timeIntervalSince1970)
        claims["iat"] = now + 30
        _ = try await setup.verifier.verify(try await setup.forge(setup.header(), claims))
        claims["iat"] = now + 31
        let token = try await setup.forge(setup.header(), claims)
        await expectRefusal(.issuedInFuture) { _ = try await setup.verifier.verify(token) }
    }

    @Test("a token for another audience is refused; an aud array containing ours is accepted")
    func audience() async throws {
        let setup = try await Setup()
        var claims = setup.claims
        claims["aud"] = "https://other.test"
        let wrong = try await setup.forge(setup.header(), claims)
        await expectRefusal(.wrongAudience) { _ = try await setup.verifier.verify(wrong) }
        claims["aud"] = ["https://other.test", "https://third.test"]
        let wrongArray = try await setup.forge(setup.header(), claims)
        await expectRefusal(.wrongAudience) { _ = try await setup.verifier.verify(wrongArray) }
        claims["aud"] = ["https://other.test", TokenFixtures.audience]
        let right = try await setup.forge(setup.header(), claims)
        #expect(try await setup.verifier.verify(right).audience == ["https://other.test", TokenFixtures.audience])
        // The verifier configured for another audience refuses tokens issued for ours.
        let issued = try await TokenFixtures.issuer(setup.ring, clock: setup.clock)
            .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        let other = TokenFixtures.verifier(setup.ring, clock: setup.clock, audience: "https://billing.test")
        await expectRefusal(.wrongAudience) { _ = try await other.verify(issued.token) }
    }

    @Test("a token from another issuer is refused")
    func issuer() async throws {
        let setup = try await Setup()
        var claims = setup.claims
        claims["iss"] = "https://evil.test"
        let token = try await setup.forge(setup.header(), claims)
        await expectRefusal(.wrongIssuer) { _ = try await setup.verifier.verify(token) }
        let issued = try await TokenFixtures.issuer(setup.ring, clock: setup.clock)
            .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        let other = TokenFixtures.verifier(setup.ring, clock: setup.clock, issuer: "https://auth.other.test")
        await expectRefusal(.wrongIssuer) { _ = try await other.verify(issued.token) }
    }

    @Test("a missing required claim is refused", arguments: ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "epoch"])
    func missingClaim(_ name: String) async throws {
        let setup = try await Setup()
        var claims = setup.claims
        claims[name] = nil
        let token = try await setup.forge(setup.header(), claims)
        await expectRefusal(.missingClaim) { _ = try await setup.verifier.verify(token) }
    }

    @Test(
        "claims of the wrong type are malformed",
        arguments: [
            ("exp", "soon" as any Sendable), ("epoch", 1.5 as any Sendable), ("aud", 7 as any Sendable), ("sub", true as any Sendable),
        ]
    )
    func wrongClaimType(_ name: String, _ value: any Sendable) async throws {
        let setup = try await Setup()
        var claims = setup.claims
        claims[name] = value
        let token = try await setup.forge(setup.header(), claims)
        await expectRefusal(.malformed) { _ = try await setup.verifier.verify(token) }
    }

    @Test(
        "times beyond what a store can hold are malformed, not trusted",
        arguments: [
            ("exp", 1e30 as any Sendable), ("exp", 9_223_372_036_854_776 as any Sendable), ("exp", 253_402_300_800 as any Sendable),
            ("iat", -1e308 as any Sendable), ("iat", -1 as any Sendable), ("nbf", 1e300 as any Sendable),
        ]
    )
    func timeOutOfRange(_ name: String, _ value: any Sendable) async throws {
        let setup = try await Setup()
        var claims = setup.claims
        claims[name] = value
        let token = try await setup.forge(setup.header(), claims)
        await expectRefusal(.malformed) { _ = try await setup.verifier.verify(token) }
    }

    @Test("a payload that is not a JSON object is malformed after a good signature")
    func payloadNotObject() async throws {
        let setup = try await Setup()
        let input = Base64URL.encode(TokenFixtures.json(setup.header())) + "." + Base64URL.encode(Array("[1,2]".utf8))
        let token = try await TokenFixtures.sign(input, ring: setup.ring)
        await expectRefusal(.malformed) { _ = try await setup.verifier.verify(token) }
        // Signature-only verification accepts any payload.
        let verified = try await setup.verifier.verifySignatureOnly(token)
        #expect(verified.payload == Data("[1,2]".utf8))
    }

    @Test("a changed signature or payload is refused")
    func tampered() async throws {
        let setup = try await Setup()
        let issued = try await TokenFixtures.issuer(setup.ring, clock: setup.clock)
            .issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0)
        await expectRefusal(.badSignature) { _ = try await setup.verifier.verify(issued.token.flippingByte(inSegment: 2)) }
        await expectRefusal(.badSignature) { _ = try await setup.verifier.verify(issued.token.flippingByte(inSegment: 1)) }
        // A payload with a raised epoch, re-encoded, keeps the old signature: refused.
        let parts = issued.token.split(separator: ".").map(String.init)
        var claims = TokenFixtures.claims(now: setup.clock.now())
        claims["epoch"] = 99
        let swapped = parts[0] + "." + Base64URL.encode(TokenFixtures.json(claims)) + "." + parts[2]
        await expectRefusal(.badSignature) { _ = try await setup.verifier.verify(swapped) }
        // An empty signature.
        await expectRefusal(.badSignature) { _ = try await setup.verifier.verify(parts[0] + "." + parts[1] + ".") }
    }

    // MARK: structure

    @Test("truncated tokens are refused")
    func truncated() async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header())
        let parts = token.split(separator: ".").map(String.init)
        for candidate in [parts[0], parts[0] + "." + parts[1], parts[0] + "." + parts[1] + "." + parts[2].dropLast(2), "", "."] {
            await expectRefusal(candidate.split(separator: ".", omittingEmptySubsequences: false).count == 3 ? .badSignature : .malformed) {
                _ = try await setup.verifier.verify(String(candidate))
            }
        }
        // A signature cut to a length no base64url text has.
        let odd = parts[0] + "." + parts[1] + "." + String(parts[2].prefix(5))
        await expectRefusal(.malformed) { _ = try await setup.verifier.verify(odd) }
    }

    @Test("padded, non-base64url or non-canonical segments are refused")
    func strictBase64URL() async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header())
        let parts = token.split(separator: ".").map(String.init)
        let candidates = [
            parts[0] + "=." + parts[1] + "." + parts[2],
            parts[0] + "." + parts[1] + "==." + parts[2],
            parts[0] + "." + parts[1] + "." + parts[2] + "==",
            parts[0].replacingOccurrences(of: "e", with: "+") + "." + parts[1] + "." + parts[2],
            parts[0] + "." + parts[1] + "." + parts[2].replacingOccurrences(of: "_", with: "/").replacingOccurrences(of: "-", with: "/") + "/",
            parts[0] + "." + parts[1] + "!." + parts[2],
            " " + token,
            token + "\n",
            parts[0] + ".\u{00E9}" + parts[1] + "." + parts[2],
            // Non-canonical: a final character with non-zero unused bits.
            parts[0] + "." + parts[1] + "." + Self.nonCanonical(parts[2]),
        ]
        for candidate in candidates where candidate != token {
            await expectRefusal(.malformed) { _ = try await setup.verifier.verify(candidate) }
        }
    }

    @Test("tokens with other than three segments are refused", arguments: [2, 4, 5])
    func segmentCount(_ count: Int) async throws {
        let setup = try await Setup()
        let token = try await setup.forge(setup.header())
        let parts = token.split(separator: ".").map(String.init)
        let candidate = (0..<count).map { parts[min($0, 2)] }.joined(separator: ".")
        await expectRefusal(.malformed) { _ = try await setup.verifier.verify(candidate) }
        await expectRefusal(.malformed) { _ = try await setup.verifier.verifySignatureOnly(candidate) }
        await expectRefusal(.malformed) { _ = try TokenVerifier.decode(candidate) }
    }

    @Test("a header that is not a JSON object is malformed")
    func headerNotObject() async throws {
        let setup = try await Setup()
        for header in ["[]", "\"alg\"", "{", "null"] {
            let token = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(TokenFixtures.json(setup.claims)) + ".c2ln"
            await expectRefusal(.malformed) { _ = try await setup.verifier.verify(token) }
        }
    }

    @Test("a header or claim set naming a member twice is malformed, however the name is escaped")
    func duplicateMembers() async throws {
        let setup = try await Setup()
        let claims = Base64URL.encode(TokenFixtures.json(setup.claims))
        let headers = [
            #"{"alg":"EdDSA","kid":"\#(setup.kid)","typ":"at+jwt","alg":"none"}"#,
            #"{"alg":"EdDSA","kid":"\#(setup.kid)","typ":"at+jwt","al\u0067":"HS256"}"#,
            #"{"alg":"EdDSA","kid":"other","typ":"at+jwt","kid":"\#(setup.kid)"}"#,
        ]
        for header in headers {
            let token = try await TokenFixtures.sign(Base64URL.encode(Array(header.utf8)) + "." + claims, ring: setup.ring)
            await expectRefusal(.malformed) { _ = try await setup.verifier.verify(token) }
            await expectRefusal(.malformed) { _ = try TokenVerifier.decode(token) }
        }
        let header = Base64URL.encode(TokenFixtures.json(setup.header()))
        let now = Int(setup.clock.now().timeIntervalSince1970)
        let payload =
            #"{"iss":"\#(TokenFixtures.issuer)","sub":"u","aud":"\#(TokenFixtures.audience)","iat":\#(now),"exp":\#(now + 60),"jti":"j","client_id":"c","epoch":1,"exp":\#(now + 86400)}"#
        let token = try await TokenFixtures.sign(header + "." + Base64URL.encode(Array(payload.utf8)), ring: setup.ring)
        await expectRefusal(.malformed) { _ = try await setup.verifier.verify(token) }
        // Equal names in different objects are fine.
        let nested =
            #"{"iss":"\#(TokenFixtures.issuer)","sub":"u","aud":"\#(TokenFixtures.audience)","iat":\#(now),"exp":\#(now + 60),"jti":"j","client_id":"c","epoch":1,"cnf":{"exp":1,"sub":[{"exp":2}]}}"#
        let nestedToken = try await TokenFixtures.sign(header + "." + Base64URL.encode(Array(nested.utf8)), ring: setup.ring)
        #expect(try await setup.verifier.verify(nestedToken).epoch == 1)
    }

    @Test("a 1 MB token is refused fast, before parsing")
    func oneMegabyte() async throws {
        let setup = try await Setup()
        let segment = String(repeating: "A", count: 350_000)
        let token = [segment, segment, segment].joined(separator: ".")
        #expect(token.utf8.count > 1_000_000)
        let start = ContinuousClock.now
        await expectRefusal(.tooLarge) { _ = try await setup.verifier.verify(token) }
        await expectRefusal(.tooLarge) { _ = try await setup.verifier.verifySignatureOnly(token) }
        await expectRefusal(.tooLarge) { _ = try TokenVerifier.decode(token) }
        #expect(ContinuousClock.now - start < .milliseconds(200))
        // Just over the limit is refused too; the limit is configurable.
        await expectRefusal(.tooLarge) { _ = try await setup.verifier.verify(String(repeating: "A", count: 8193)) }
    }

    @Test("every refusal maps to a Bearer invalid_token challenge")
    func challenge() async throws {
        let setup = try await Setup()
        do {
            _ = try await setup.verifier.verify("a.b")
            Issue.record("accepted")
        } catch {
            #expect(
                error.wwwAuthenticate
                    == "Bearer error=\"invalid_token\", error_description=\"malformed: a token has exactly three dot-separated segments\""
            )
            #expect(error.wwwAuthenticate(realm: "api").hasPrefix("Bearer realm=\"api\", error=\"invalid_token\""))
        }
        for code in TokenError.Code.allCases {
            #expect(code.rawValue.allSatisfy { $0.isLowercase || $0 == "_" })
        }
        #expect(Set(TokenError.Code.allCases.map(\.rawValue)).count == TokenError.Code.allCases.count)
    }

    // MARK: helpers

    static func publishedKeys(_ ring: TokenKeyRing) async throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(await ring.jwks().utf8)) as? [String: Any]
        return try #require(object?["keys"] as? [[String: Any]])
    }

    /// A base64url member of a published JWK, decoded.
    static func member(_ jwk: [String: Any], _ name: String) throws -> [UInt8] {
        let text = try #require(jwk[name] as? String)
        return try #require(Base64URL.decode(text))
    }

    static func hmacToken(header: [String: Any], claims: [String: Any], secret: [UInt8]) -> String {
        let input = Base64URL.encode(TokenFixtures.json(header)) + "." + Base64URL.encode(TokenFixtures.json(claims))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: secret))
        return input + "." + Base64URL.encode(Array(mac))
    }

    /// `segment` with its last character's unused low bits set (decodes to the same bytes).
    static func nonCanonical(_ segment: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        guard segment.count % 4 != 0, let last = segment.last, let index = alphabet.firstIndex(of: last) else { return segment + "=" }
        let unusedBits = segment.count % 4 == 2 ? 4 : 2
        return String(segment.dropLast()) + String(alphabet[index | ((1 << unusedBits) - 1)])
    }
}

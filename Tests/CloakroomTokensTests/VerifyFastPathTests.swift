import CloakroomCore
import Foundation
import Testing

@testable import CloakroomTokens

/// The verification fast paths (member-by-member header and claim readers, the slack base64url
/// decoder, byte comparisons of `alg`, `kid` and `typ`) checked against the dictionary-based
/// code they replaced, kept here as the reference: same acceptances, same refusals.
@Suite("Verify fast paths")
struct VerifyFastPathTests {
    // MARK: Reference (the previous code)

    /// Previous `AccessTokenClaims(payload:)`: the whole object as a dictionary, then each claim.
    static func referenceClaims(_ payload: [UInt8]) -> Result<AccessTokenClaims, TokenError> {
        Result { () throws(TokenError) in
            guard let claims = JSONValue.object(from: payload) else {
                throw .malformed("the payload is not a JSON object with distinct member names")
            }
            func string(_ name: String) throws(TokenError) -> String {
                guard let value = claims[name] else { throw .missingClaim(name) }
                guard let text = value.stringValue else { throw .malformed("the \(name) claim is not a string") }
                return text
            }
            func date(_ name: String) throws(TokenError) -> Date? {
                guard let value = claims[name] else { return nil }
                guard let seconds = value.doubleValue, seconds.isFinite else {
                    throw .malformed("the \(name) claim is not a number")
                }
                // The range rule added after the reference was written: 1970 up to the year 9999.
                guard (0...253_402_300_799).contains(seconds) else {
                    throw .malformed("the \(name) claim is out of range (0 to year 9999)")
                }
                return Date(timeIntervalSince1970: seconds)
            }
            let issuer = try string("iss")
            let subject = try string("sub")
            let audience: [String]
            switch claims["aud"] {
            case nil:
                throw .missingClaim("aud")
            case .string(let single)?:
                audience = [single]
            case .array(let values)?:
                let names = values.compactMap(\.stringValue)
                guard names.count == values.count, !names.isEmpty else {
                    throw .malformed("the aud claim is not a string or an array of strings")
                }
                audience = names
            default:
                throw .malformed("the aud claim is not a string or an array of strings")
            }
            guard let expiresAt = try date("exp") else { throw .missingClaim("exp") }
            guard let issuedAt = try date("iat") else { throw .missingClaim("iat") }
            let notBefore = try date("nbf")
            let tokenID = try string("jti")
            let clientID = try string("client_id")
            let scope = claims["scope"] == nil ? "" : try string("scope")
            guard let epochValue = claims["epoch"] else { throw .missingClaim("epoch") }
            guard let epoch = epochValue.integerValue else { throw .malformed("the epoch claim is not an integer") }
            let sessionID = claims["sid"] == nil ? nil : try string("sid")
            var result = AccessTokenClaims(
                issuer: issuer,
                subject: subject,
                audience: audience,
                expiresAt: expiresAt,
                issuedAt: issuedAt,
                notBefore: notBefore,
                tokenID: tokenID,
                clientID: clientID,
                scope: scope,
                epoch: epoch,
                sessionID: sessionID
            )
            // The reader keeps the times as written (the issuer truncates; a forged token need not).
            result.expiresAt = expiresAt
            result.issuedAt = issuedAt
            result.notBefore = notBefore
            return result
        }
    }

    static func fastClaims(_ payload: [UInt8], issuer: String? = nil, audience: String? = nil) -> Result<AccessTokenClaims, TokenError> {
        payload.withUnsafeBufferPointer { buffer in
            Result { () throws(TokenError) in try AccessTokenClaims(payload: buffer, issuer: issuer, audience: audience) }
        }
    }

    // MARK: Claims

    static let validClaims =
        #"{"aud":"https://api.example","client_id":"c","epoch":3,"exp":1767226200,"iat":1767225600,"iss":"https://auth.example","jti":"jti-1","scope":"read write","sub":"u-1"}"#

    /// Claim sets that differ from a valid one in one way each, plus the generic JSON corpus.
    static var claimCorpus: [String] {
        var corpus = JOSEParsingTests.sameAsReference + [validClaims]
        let members: [(String, String)] = [
            ("iss", #""https://auth.example""#), ("sub", #""u-1""#), ("aud", #""https://api.example""#),
            ("exp", "1767226200"), ("iat", "1767225600"), ("jti", #""jti-1""#), ("client_id", #""c""#),
            ("scope", #""read write""#), ("epoch", "3"),
        ]
        let replacements = [
            #""text""#, "12", "1.5", "-0", "1e3", "1E400", "null", "true", "[]", #"["a"]"#, #"["a",1]"#, "{}", #"{"a":1,"a":2}"#,
            #""\u00e9""#, #""é""#, #""a\"b""#, #""\ud800""#, "12345678901234567890", "0.0", #""\u212A""#,
        ]
        func object(_ pairs: [(String, String)]) -> String {
            "{" + pairs.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }
        for index in members.indices {
            var without = members
            without.remove(at: index)
            corpus.append(object(without))
            for replacement in replacements {
                var changed = members
                changed[index].1 = replacement
                corpus.append(object(changed))
            }
            var escaped = members
            escaped[index].0 = escaped[index].0.unicodeScalars.map { String(format: "\\u%04x", $0.value) }.joined()
            corpus.append(object(escaped))
            corpus.append(object(members + [escaped[index]]))  // the same name twice, once escaped
            corpus.append(object(members + [members[index]]))  // the same name twice
        }
        corpus.append(object(members + [("nbf", "1767225000")]))
        corpus.append(object(members + [("nbf", #""soon""#)]))
        corpus.append(object(members + [("sid", #""family""#)]))
        corpus.append(object(members + [("sid", "7")]))
        corpus.append(object(members + [("extra", #"{"x":[1,{"y":null}]}"#), ("other", #""\u00e9""#)]))
        corpus.append(object(members + [("extra", "1"), ("extra", "2")]))
        corpus.append(object(members + [("\u{212A}", "1"), ("K", "2")]))  // canonically equal names
        corpus.append(object(members + [("extra", #"{"a":1,"a":1}"#)]))
        corpus.append(object(members + [("a-name-longer-than-sixteen-bytes", "1")]))
        corpus.append(object(members).replacingOccurrences(of: ",", with: " ,\n\t"))
        corpus.append(object(members) + " ")
        corpus.append(object(members) + ",")
        corpus.append(String(object(members).dropLast()))
        return corpus
    }

    @Test("claims: the same claims or the same refusal as the dictionary-based reader")
    func claimsSameAsReference() {
        for text in Self.claimCorpus {
            let bytes = Array(text.utf8)
            let reference = Self.referenceClaims(bytes)
            #expect(Self.fastClaims(bytes) == reference, "\(text.debugDescription)")
            #expect(Self.fastClaims(bytes, issuer: "https://auth.example", audience: "https://api.example") == reference, "\(text.debugDescription)")
        }
    }

    @Test("claims: an interned issuer or audience is used only when equal")
    func claimsInterning() throws {
        let claims = try Self.fastClaims(Array(Self.validClaims.utf8), issuer: "https://auth.example.", audience: "https://api.exampl").get()
        #expect(claims.issuer == "https://auth.example")
        #expect(claims.audience == ["https://api.example"])
    }

    // MARK: Header

    @Test("header: read exactly when the dictionary parser reads an object, with the same members")
    func headerSameAsReference() {
        let headers =
            JOSEParsingTests.sameAsReference + [
                #"{"alg":"HS256","kid":"k","typ":"at+jwt"}"#, #"{"alg":"HS256","kid":7}"#, #"{"alg":1}"#, #"{"kid":"k"}"#,
                #"{"alg":"H\u0053256","k\u0069d":"\u006b","typ":"AT+JWT"}"#, #"{"alg":"none"}"#, #"{"alg":" NoNe "}"#,
                #"{"alg":"HS256","jwk":{}}"#, #"{"alg":"HS256","x5c":null}"#, #"{"alg":"HS256","crit":[]}"#,
                #"{"alg":"HS256","alg":"HS256"}"#, #"{"alg":"HS256","al\u0067":"HS256"}"#, #"{"alg":"HS256","kid":"é"}"#,
                #"{"alg":"HS2560"}"#, #"{"alg":"hs256"}"#, #"{"alg":""}"#, #"{"alg":"HS256","kid":""}"#,
            ]
        for text in headers {
            let bytes = Array(text.utf8)
            let reference = JSONValue.object(from: bytes)
            let header = bytes.withUnsafeBufferPointer { JOSEHeader(json: $0) }
            #expect((header != nil) == (reference != nil), "\(text.debugDescription)")
            guard let header, let reference else { continue }
            bytes.withUnsafeBufferPointer { buffer in
                for (member, name) in [(header.alg, "alg"), (header.kid, "kid"), (header.typ, "typ")] {
                    #expect(member.string(in: buffer) == reference[name]?.stringValue, "\(name) in \(text.debugDescription)")
                    #expect((member == .absent) == (reference[name] == nil), "\(name) in \(text.debugDescription)")
                    #expect((member == .notString) == (reference[name] != nil && reference[name]?.stringValue == nil))
                }
            }
            #expect(header.hasCrit == (reference["crit"] != nil))
            #expect(header.hasEmbeddedKey == HeaderRules.embeddedKeyParameters.contains { reference[$0] != nil })
            #expect(header.algorithm == reference["alg"]?.stringValue.flatMap(TokenAlgorithm.init(name:)), "\(text.debugDescription)")
        }
    }

    @Test("alg: the byte comparison names the same algorithm as the String one")
    func algorithmBytes() {
        var names = TokenAlgorithm.allCases.map(\.name)
        names += names.map { $0.lowercased() } + names.map { $0 + " " } + ["", "HS25", "HS2566", "none", "EdDSa", "ES255"]
        for name in names {
            let bytes = Array(name.utf8)
            #expect(bytes.withUnsafeBufferPointer(TokenAlgorithm.init(ascii:)) == TokenAlgorithm(name: name), "\(name)")
        }
    }

    @Test("typ: accepted in any ASCII casing or escaped, as lowercased() and Set.contains decide")
    func typeAcceptance() {
        let policy = TokenVerifier.acceptedTypesPolicy
        for typ in ["at+jwt", "AT+JWT", "Application/At+Jwt", "at+jwt ", "at+jw", "at+jwk", "", "application/at+jwt+x", "\u{212A}"] {
            let expected = TokenVerifier.acceptedTypes.contains(typ.lowercased())
            let bytes = Array(typ.utf8)
            let ascii = bytes.allSatisfy { $0 < 0x80 }
            if ascii {
                #expect(bytes.withUnsafeBufferPointer { policy.accept(.ascii($0)) } == expected, "\(typ.debugDescription)")
            }
            #expect(policy.accept(.string(typ)) == expected, "\(typ.debugDescription)")
        }
    }

    @Test("kid: compared as Strings are, bytes or not")
    func kidEquality() {
        for (kid, other) in [("abc", "abc"), ("abc", "abd"), ("K1", "\u{212A}1"), ("é", "e\u{301}"), ("", ""), ("a", "")] {
            let bytes = Array(kid.utf8)
            if bytes.allSatisfy({ $0 < 0x80 }) {
                #expect(bytes.withUnsafeBufferPointer { HeaderText.ascii($0).equals(other) } == (kid == other), "\(kid) \(other)")
            }
            #expect(HeaderText.string(kid).equals(other) == (kid == other))
        }
    }

    // MARK: Tokens

    @Test("a header with escaped or differently cased members verifies as before")
    func escapedHeaderMembers() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(.hs256, clock: clock)
        let verifier = TokenFixtures.verifier(ring, clock: clock)
        let kid = try await TokenFixtures.kid(ring)
        let escapedKid = kid.unicodeScalars.map { String(format: "\\u%04X", $0.value) }.joined()
        let payload = Base64URL.encode(TokenFixtures.json(TokenFixtures.claims(now: clock.now())))
        let accepted = [
            #"{"alg":"HS256","kid":"\#(escapedKid)","typ":"at+jwt"}"#,
            #"{"\u0061lg":"H\u0053256","kid":"\#(kid)","typ":"AT+JWT"}"#,
            #"{"alg":"HS256","kid":"\#(kid)","typ":"application\/at+jwt"}"#,
        ]
        for header in accepted {
            let token = try await TokenFixtures.sign(Base64URL.encode(Array(header.utf8)) + "." + payload, ring: ring)
            _ = try await verifier.verify(token)
        }
        let refused: [(String, TokenError.Code)] = [
            (#"{"alg":"HS256","kid":"\#(kid)x","typ":"at+jwt"}"#, .unknownKid),
            (#"{"alg":"HS256","typ":"at+jwt"}"#, .missingKid),
            (#"{"alg":"HS256","kid":"\#(kid)","typ":"at+jwt "}"#, .wrongType),
            (#"{"alg":"hs256","kid":"\#(kid)","typ":"at+jwt"}"#, .algMismatch),
            (#"{"alg":"HS256 ","kid":"\#(kid)","typ":"at+jwt"}"#, .algMismatch),
            (#"{"alg":" n\u004fne","kid":"\#(kid)","typ":"at+jwt"}"#, .algNone),
            (#"{"alg":"HS256","kid":["\#(kid)"],"typ":"at+jwt"}"#, .malformed),
        ]
        for (header, code) in refused {
            let token = try await TokenFixtures.sign(Base64URL.encode(Array(header.utf8)) + "." + payload, ring: ring)
            await expectRefusal(code) { _ = try await verifier.verify(token) }
        }
    }

    @Test("a removed key is refused at once; a retired one verifies until its end (the ring's snapshot)")
    func ringSnapshot() async throws {
        let clock = TestClock()
        let ring = try await TokenFixtures.ring(.hs256, clock: clock)
        let verifier = TokenFixtures.verifier(ring, clock: clock)
        let issuer = TokenFixtures.issuer(ring, clock: clock)
        let first = try await issuer.issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0).token
        try await ring.rotate(activateIn: 0)
        _ = try await verifier.verify(first)
        let second = try await issuer.issue(subject: "u", audience: TokenFixtures.audience, clientID: "c", scope: "", epoch: 0).token
        _ = try await verifier.verify(second)
        let kid = try #require(await ring.activeKey()?.kid)
        try await ring.remove(kid: kid)
        await expectRefusal(.unknownKid) { _ = try await verifier.verify(second) }
        _ = try await verifier.verify(first)
        clock.advance(by: 30 + 600 + 30)  // the retired key's period ends (so has the token's life)
        await expectRefusal(.unknownKid) { _ = try await verifier.verify(first) }
    }

    // MARK: base64url

    @Test("base64url: the eight-at-a-time decoder writing into slack agrees with the plain one")
    func base64Slack() {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let extra = Array("+/=.\u{0}\u{7F}".utf8) + [0xC3, 0xFF]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let length = Int.random(in: 0...40, using: &generator)
            let bytes = (0..<length).map { _ in
                Int.random(in: 0..<60, using: &generator) == 0 ? extra.randomElement(using: &generator)! : alphabet.randomElement(using: &generator)!
            }
            let expected = Base64URL.decodeCanonical(ArraySlice(bytes))
            var output = [UInt8](repeating: 0xAA, count: length + 8)
            let valid = bytes.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { Base64URL.decode(input, into: $0.baseAddress!, slack: true) }
            }
            #expect(valid == (expected != nil), "\(bytes)")
            if let expected {
                #expect(Array(output[0..<expected.count]) == expected)
            }
        }
    }
}

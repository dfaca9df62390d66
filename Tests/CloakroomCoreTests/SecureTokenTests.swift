import CloakroomCore
import Foundation
import Testing

@Suite("Secure tokens, base64url, constant-time comparison, durations")
struct SecureTokenTests {
    @Test func tokensAre256BitsOfBase64URL() throws {
        let token = SecureToken()
        #expect(token.text.utf8.count == 43)
        #expect(Base64URL.decode(token.text)?.count == 32)
        #expect(token.text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    @Test func tokensDoNotRepeat() {
        let tokens = Set((0..<10_000).map { _ in SecureToken().text })
        #expect(tokens.count == 10_000)
    }

    @Test func hashedFormIsSHA256Hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        #expect(SecureToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let token = SecureToken()
        #expect(token.hashed.count == 64)
        #expect(token.hashed != token.text)
    }

    @Test(arguments: [
        "", "short", String(repeating: "A", count: 42), String(repeating: "A", count: 44), "=" + String(repeating: "A", count: 42),
        String(repeating: "+", count: 43), String(repeating: "é", count: 43),
    ])
    func malformedTokensAreRefused(_ text: String) {
        #expect(SecureToken(validating: text) == nil)
    }

    @Test func taggedTokensCarryTheirTagInTheTextAndTheKey() throws {
        let tag = KeyTag(user: "alice")
        #expect(tag.hex == String(SecureToken.hash("alice").prefix(4)), "the first two bytes of SHA-256 of the user ID")
        let token = SecureToken(tag: tag)
        #expect(token.text.utf8.count == 48 && token.text.hasPrefix(tag.hex + "."))
        #expect(token.hashed.count == 64 && token.hashed.hasPrefix(tag.hex))
        #expect(token.hashed.dropFirst(4) == SecureToken.hash(token.text).dropFirst(4), "the rest is the token's own hash")
        let presented = try #require(SecureToken(validating: token.text))
        #expect(presented.tag == tag && presented.hashed == token.hashed)
        #expect(KeyTag(key: token.hashed) == tag)
        #expect(KeyTag(taggedText: tag.prefixing("family")) == tag)
        #expect(SecureToken(validating: SecureToken().text)?.tag == nil)
        // Malformed tags: upper case, not hex, no dot, a tag on a short token.
        for bad in [
            "ABCD." + SecureToken().text, "wxyz." + SecureToken().text, "abcd-" + SecureToken().text, "abcd." + SecureToken(byteCount: 31).text,
        ] {
            #expect(SecureToken(validating: bad) == nil, "\(bad)")
        }
    }

    @Test func aWellFormedTokenValidates() {
        let token = SecureToken()
        #expect(SecureToken(validating: token.text) == token)
    }

    @Test func descriptionNeverShowsTheSecret() {
        let token = SecureToken()
        #expect(!"\(token)".contains(token.text))
    }

    @Test func base64URLRoundTripsRFC4648Vectors() {
        // RFC 4648 section 10 vectors, in the URL alphabet without padding.
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("a b") == nil)
    }

    @Test func base64URLMatchesFoundationOnRandomBytes() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(expected) == bytes)
        }
    }

    @Test func tokensOfOddLengthsAreFullyRandom() {
        // Every byte position varies (the 8-bytes-per-draw fill covers the tail too).
        for count in [1, 7, 9, 16, 33] {
            let samples = (0..<64).map { _ in Base64URL.decode(SecureToken(byteCount: count).text) ?? [] }
            #expect(samples.allSatisfy { $0.count == count })
            for position in 0..<count {
                #expect(Set(samples.map { $0[position] }).count > 8, "byte \(position) of \(count) barely varies")
            }
        }
    }

    @Test func constantTimeEquality() {
        #expect(ConstantTime.equals("abc", "abc"))
        #expect(!ConstantTime.equals("abc", "abd"))
        #expect(!ConstantTime.equals("abc", "abcd"))
        #expect(!ConstantTime.equals("", "a"))
        #expect(ConstantTime.equals("", ""))
    }

    @Test(arguments: [("90", 90), ("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), (" 5M ", 300)])
    func durationsParse(_ text: String, _ seconds: Int) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test(arguments: ["", "s", "-5", "5x", "1.5h", "h5", "99999999999999999999d", "5 m"])
    func badDurationsAreRefused(_ text: String) {
        #expect(DurationText.seconds(text) == nil)
    }

    @Test("hex: bytes round-trip through encode and decode (either case); an odd length or a non-hex digit is refused")
    func hexRoundTrip() {
        let bytes: [UInt8] = [0x00, 0x0f, 0x10, 0xab, 0xff]
        #expect(Hex.encode(bytes) == "000f10abff")
        #expect(Hex.decode("000f10abff") == bytes && Hex.decode("000F10ABFF") == bytes)
        #expect(Hex.decode("") == [])
        for bad in ["0", "abc", "0g", "zz", " 0", "0x00"] { #expect(Hex.decode(bad) == nil, "\(bad)") }
    }
}

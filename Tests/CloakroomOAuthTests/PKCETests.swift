import CloakroomOAuth
import Foundation
import Testing

/// PKCE (RFC 7636) with S256 only.
@Suite("PKCE")
struct PKCETests {
    /// RFC 7636 Appendix B (any 43 characters of base64url are a well-formed challenge).
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

    @Test("the RFC 7636 Appendix B verifier gives its challenge and verifies against it")
    func appendixB() throws {
        #expect(PKCE.challenge(for: Self.verifier) == Self.challenge)
        try PKCE.validateChallenge(Self.challenge, method: "S256")
        try PKCE.verify(Self.verifier, challenge: Self.challenge)
    }

    @Test(
        "a missing, plain, unknown or malformed challenge is refused at /authorize",
        arguments: [
            (nil, "S256", "code_challenge is required"),
            ("", "S256", "code_challenge is required"),
            (challenge, nil, "code_challenge_method is required"),
            (challenge, "plain", "must be S256, not plain"),
            (challenge, "s256", "must be S256, not s256"),
            (String(challenge.dropLast()), "S256", "43-character"),
            (challenge + "A", "S256", "43-character"),
            (String(challenge.dropLast()) + "=", "S256", "43-character"),
        ] as [(String?, String?, String)]
    )
    func refusedChallenges(_ challenge: String?, _ method: String?, _ expected: String) {
        #expect {
            try PKCE.validateChallenge(challenge, method: method)
        } throws: { error in
            (error as? PKCE.Problem)?.description.contains(expected) == true
        }
    }

    @Test(
        "a missing, wrong, short, long or ill-formed verifier is refused at /token",
        arguments: [
            (nil, "code_verifier is required"),
            ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", "does not match"),
            (String(verifier.dropLast()), "43 to 128"),
            (String(repeating: "a", count: 129), "43 to 128"),
            (verifier.replacingOccurrences(of: "-", with: "+"), "43 to 128"),
            (verifier.replacingOccurrences(of: "-", with: " "), "43 to 128"),
            (challenge, "does not match"),
        ] as [(String?, String)]
    )
    func refusedVerifiers(_ verifier: String?, _ expected: String) {
        #expect {
            try PKCE.verify(verifier, challenge: Self.challenge)
        } throws: { error in
            (error as? PKCE.Problem)?.description.contains(expected) == true
        }
    }

    @Test("verifiers of 43 and 128 characters of every allowed character are accepted")
    func bounds() throws {
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
        for verifier in [String(alphabet.prefix(43)), String((alphabet + alphabet).prefix(128))] {
            try PKCE.verify(verifier, challenge: PKCE.challenge(for: verifier))
        }
    }
}

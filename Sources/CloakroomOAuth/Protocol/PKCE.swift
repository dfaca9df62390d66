import CloakroomCore
import Crypto

/// Proof Key for Code Exchange (RFC 7636), `S256` only: OAuth 2.1 (and RFC 9700 §2.1.1) require
/// it of every client, and `plain` (which sends the secret in the front channel) is refused.
public enum PKCE {
    /// The only method accepted.
    public static let method = "S256"

    /// Why a challenge or a verifier is refused (the `error_description` a client sees).
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Checks a `code_challenge` and its method as `/authorize` receives them: the method must be
    /// `S256` (missing counts as `plain`, RFC 7636 §4.3), and the challenge 43 characters of
    /// base64url, the encoding of a SHA-256 digest.
    public static func validateChallenge(_ challenge: String?, method: String?) throws(Problem) {
        guard let challenge, !challenge.isEmpty else { throw Problem("code_challenge is required (PKCE with S256)") }
        guard let method else { throw Problem("code_challenge_method is required and must be S256 (plain is not accepted)") }
        guard method == Self.method else { throw Problem("code_challenge_method must be S256, not \(method)") }
        guard challenge.utf8.count == 43, Base64URL.decodeCanonical(challenge)?.count == 32 else {
            throw Problem("code_challenge must be the 43-character base64url SHA-256 of the verifier")
        }
    }

    /// Checks a `code_verifier` against the challenge the code was made with: 43 to 128 characters
    /// of `[A-Z a-z 0-9 - . _ ~]` (RFC 7636 §4.1) whose SHA-256, base64url, is the challenge;
    /// compared in constant time.
    public static func verify(_ verifier: String?, challenge: String) throws(Problem) {
        guard let verifier else { throw Problem("code_verifier is required: the code was made with a code_challenge") }
        guard (43...128).contains(verifier.utf8.count), verifier.utf8.allSatisfy(isUnreserved) else {
            throw Problem("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
        }
        guard ConstantTime.equals(Self.challenge(for: verifier), challenge) else {
            throw Problem("code_verifier does not match the code_challenge")
        }
    }

    /// The `S256` challenge of `verifier`: BASE64URL(SHA-256(ASCII(verifier))).
    public static func challenge(for verifier: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(verifier.utf8)))
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}

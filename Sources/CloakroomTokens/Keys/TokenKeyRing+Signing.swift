import CloakroomCore
public import Foundation
import JWTKit

extension TokenKeyRing {
    /// A compact JWS (RFC 7515) over `claims` (the bytes of a JSON object), signed with the ring's
    /// active key; the header is `alg`, `kid` and `typ`. For tokens other than access tokens (an
    /// OpenID Connect ID token, a logout token), whose claims the caller shapes. Returns the token
    /// and the algorithm it was signed with (an ID token's `at_hash` depends on it).
    public nonisolated func signCompact(claims: Data, type: String) throws(TokenKeyError) -> (token: String, algorithm: TokenAlgorithm) {
        let key = try signingKey()
        let header =
            #"{"alg":"# + AccessTokenIssuer.jsonString(key.algorithm.name) + #","kid":"# + AccessTokenIssuer.jsonString(key.kid)
            + #","typ":"# + AccessTokenIssuer.jsonString(type) + "}"
        let signingInput = Base64URL.encode(header.utf8) + "." + Base64URL.encode(claims)
        let signature: [UInt8]
        do {
            signature = try key.signer.sign(Array(signingInput.utf8))
        } catch {
            throw TokenKeyError(.signingFailed, "signing with key \(key.kid) failed")
        }
        return (signingInput + "." + Base64URL.encode(signature), key.algorithm)
    }
}

extension TokenKeyRing {
    /// The algorithm of the key that signs now.
    public nonisolated func signingAlgorithm() throws(TokenKeyError) -> TokenAlgorithm {
        try signingKey().algorithm
    }
}

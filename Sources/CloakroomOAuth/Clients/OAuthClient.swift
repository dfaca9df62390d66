import CloakroomCore
public import Foundation

/// An application registered to sign users in with Cloakroom (RFC 6749 §2).
///
/// A confidential client (a server) holds a secret of 32 random bytes, shown once when made or
/// rotated and kept only as its SHA-256 (`secretHash`): with 256 bits of entropy no slow hash is
/// needed, and a leaked table reveals no usable secret. A public client (a browser or native app)
/// has none and proves itself with PKCE alone.
public struct OAuthClient: Sendable, Hashable, Codable {
    /// `client_id`: public, unique.
    public var id: String
    /// Shown on the consent page.
    public var name: String
    /// SHA-256 (hex) of the secret; nil for a public client.
    public var secretHash: String?
    /// Where codes may be sent, compared by `RedirectURI.matches`.
    public var redirectURIs: [String]
    /// Where RP-initiated logout may send the browser afterwards.
    public var postLogoutRedirectURIs: [String]
    /// The scopes it may ask for.
    public var scopes: Scope
    /// Where back-channel logout tokens are POSTed, if it wants them.
    public var backchannelLogoutURI: String?
    public var createdAt: Date
    /// When the secret was last replaced (nil: never).
    public var secretRotatedAt: Date?
    /// The client's public keys (a JWK Set as JSON) for `private_key_jwt` (RFC 7523): a client
    /// with keys and no secret authenticates only by signed assertions.
    public var jwks: String?

    public init(
        id: String,
        name: String,
        secretHash: String?,
        redirectURIs: [String],
        postLogoutRedirectURIs: [String] = [],
        scopes: Scope,
        backchannelLogoutURI: String? = nil,
        createdAt: Date,
        secretRotatedAt: Date? = nil,
        jwks: String? = nil
    ) {
        self.id = id
        self.name = name
        self.secretHash = secretHash
        self.redirectURIs = redirectURIs
        self.postLogoutRedirectURIs = postLogoutRedirectURIs
        self.scopes = scopes
        self.backchannelLogoutURI = backchannelLogoutURI
        self.createdAt = createdAt
        self.secretRotatedAt = secretRotatedAt
        self.jwks = jwks
    }

    /// A public client has no secret and no keys, and must use PKCE (every client must, here).
    public var isPublic: Bool { secretHash == nil && jwks == nil }

    /// Whether `secret` is this client's, compared in constant time; always false for a public client.
    public func verifySecret(_ secret: String) -> Bool {
        guard let secretHash else { return false }
        return ConstantTime.equals(SecureToken.hash(secret), secretHash)
    }

    /// A new secret: the text to show once, and the hash to keep.
    public static func newSecret() -> (secret: String, hash: String) {
        let token = SecureToken(byteCount: 32)
        return (token.text, token.hashed)
    }

    /// IDs no registered client may take: `cloakroom` is the `client_id` of Cloakroom's own
    /// (first-party) tokens, whose refresh tokens a client of that name could otherwise redeem.
    public static let reservedIDs: Set<String> = ["cloakroom"]

    /// A new `client_id`: 16 random bytes, base64url.
    public static func newID() -> String { SecureToken(byteCount: 16).text }

    /// Checks a chosen `client_id`: 3 to 64 characters of `A-Z a-z 0-9 . _ -`, not a reserved one.
    public static func validateID(_ id: String) throws(RegistrationProblem) {
        guard (3...64).contains(id.utf8.count),
            id.utf8.allSatisfy({ PKCE.isUnreserved($0) && $0 != UInt8(ascii: "~") })
        else {
            throw RegistrationProblem("a client ID is 3 to 64 characters of A-Z a-z 0-9 . _ -")
        }
        guard !reservedIDs.contains(id.lowercased()) else {
            throw RegistrationProblem("the client ID \(id) is reserved: it names Cloakroom's own first-party sign-in")
        }
    }

    /// Why a client cannot be registered as given.
    public struct RegistrationProblem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The scopes a client may ask for unless told otherwise.
    public static let defaultScopes = Scope(["openid", "profile", "email", "offline_access"])

    /// A client made from what an administrator gives, every field checked: redirect URIs (at
    /// least one, each by `RedirectURI.validate`), logout redirect URIs, scopes, the back-channel
    /// URI (https, or http on loopback). Returns the client and, for a confidential one, its secret.
    public static func register(
        name: String,
        id: String? = nil,
        redirectURIs: [String],
        postLogoutRedirectURIs: [String] = [],
        scopes: Scope = defaultScopes,
        isPublic: Bool,
        backchannelLogoutURI: String? = nil,
        jwks: String? = nil,
        now: Date
    ) throws(RegistrationProblem) -> (client: OAuthClient, secret: String?) {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(trimmed.count), !trimmed.contains(where: \.isNewline) else {
            throw RegistrationProblem("a client name is 1 to 100 characters on one line")
        }
        if let id { try validateID(id) }
        guard !redirectURIs.isEmpty else { throw RegistrationProblem("at least one redirect URI is required") }
        do {
            for uri in redirectURIs + postLogoutRedirectURIs { try RedirectURI.validate(uri) }
            if let backchannelLogoutURI {
                try RedirectURI.validate(backchannelLogoutURI)
                guard backchannelLogoutURI.hasPrefix("https://") || backchannelLogoutURI.hasPrefix("http://") else {
                    throw RedirectURI.Problem("the back-channel logout URI must be https (or http on loopback)")
                }
            }
        } catch let problem as RedirectURI.Problem {
            throw RegistrationProblem(problem.description)
        } catch {
            throw RegistrationProblem("\(error)")
        }
        guard !scopes.isEmpty else { throw RegistrationProblem("a client needs at least one scope") }
        if let jwks {
            guard !isPublic else { throw RegistrationProblem("a public client has no keys: drop --public to register keys") }
            try validateKeys(jwks)
        }
        // A client with keys authenticates by signed assertions only: it gets no secret.
        let secret = isPublic || jwks != nil ? nil : newSecret()
        let client = OAuthClient(
            id: id ?? newID(),
            name: trimmed,
            secretHash: secret?.hash,
            redirectURIs: redirectURIs,
            postLogoutRedirectURIs: postLogoutRedirectURIs,
            scopes: scopes,
            backchannelLogoutURI: backchannelLogoutURI,
            createdAt: now,
            jwks: jwks
        )
        return (client, secret?.secret)
    }
}

extension OAuthClient {
    /// Checks a client's JWK Set: a JSON object whose `keys` are 1 to 10 public keys of type RSA,
    /// EC or OKP, each with a `kid`; private members (`d`, `p`, `q`, …) and symmetric keys are refused.
    public static func validateKeys(_ jwks: String) throws(RegistrationProblem) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(jwks.utf8)) as? [String: Any],
            let keys = object["keys"] as? [[String: Any]], (1...10).contains(keys.count)
        else {
            throw RegistrationProblem("the key set must be a JWK Set: {\"keys\": [...]} with 1 to 10 public keys")
        }
        for key in keys {
            guard let type = key["kty"] as? String, ["RSA", "EC", "OKP"].contains(type) else {
                throw RegistrationProblem("each key must be an RSA, EC or OKP public key (kty)")
            }
            guard let kid = key["kid"] as? String, !kid.isEmpty else { throw RegistrationProblem("each key needs a kid") }
            let algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
            guard let algorithm = key["alg"] as? String, algorithms.contains(algorithm) else {
                throw RegistrationProblem("key \(kid.prefix(40)) needs alg, one of \(algorithms.joined(separator: ", "))")
            }
            let privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].filter { key[$0] != nil }
            guard privateMembers.isEmpty else {
                throw RegistrationProblem(
                    "key \(kid.prefix(40)) holds private members (\(privateMembers.joined(separator: ", "))): register the public key only"
                )
            }
        }
    }
}

extension Scope: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try Scope(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension OAuthClient {
    /// The JSON stores keep a client as (times in milliseconds since 1970), so a field added later
    /// needs no schema change.
    public func document() throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Decodes what `document()` wrote.
    public init(document: String) throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        self = try decoder.decode(OAuthClient.self, from: Data(document.utf8))
    }
}

import CloakroomCore
import Foundation

/// How a client proved itself at the token, revocation and introspection endpoints (RFC 6749
/// §2.3.1, OpenID Connect Core §9): `client_secret_basic` (HTTP Basic), `client_secret_post` (the
/// form), or `none` (a public client naming itself; PKCE is its proof).
public enum ClientAuthentication: Sendable, Equatable {
    case basic(clientID: String, secret: String)
    case post(clientID: String, secret: String)
    case none(clientID: String)

    public var clientID: String {
        switch self {
        case .basic(let id, _), .post(let id, _), .none(let id): id
        }
    }

    /// Reads the credentials of a request: its `Authorization` header and form fields. More than
    /// one method, a malformed Basic header, or none at all is `invalid_request`/`invalid_client`.
    public static func read(authorization: String?, form: [String: String]) throws(OAuthError) -> ClientAuthentication {
        if form["client_assertion"] != nil || form["client_assertion_type"] != nil {
            throw OAuthError.invalidClient(
                "private_key_jwt client authentication is not supported yet; use client_secret_basic or client_secret_post"
            )
        }
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "basic" else {
                throw OAuthError.invalidClient("the Authorization header must use the Basic scheme")
            }
            guard let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
                let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
            else {
                throw OAuthError.invalidClient("the Basic credentials are not base64 of client_id:client_secret")
            }
            // RFC 6749 §2.3.1: both halves are form-urlencoded before they are joined.
            guard let id = FormURLEncoded.decodeComponent(String(text[..<colon])),
                let secret = FormURLEncoded.decodeComponent(String(text[text.index(after: colon)...]))
            else {
                throw OAuthError.invalidClient("the Basic credentials are not form-urlencoded")
            }
            if form["client_secret"] != nil {
                throw OAuthError.invalidRequest("use one client authentication method, not both Basic and client_secret")
            }
            if let named = form["client_id"], named != id {
                throw OAuthError.invalidRequest("client_id in the body differs from the one in the Authorization header")
            }
            guard !id.isEmpty else { throw OAuthError.invalidClient("the Basic credentials name no client") }
            return .basic(clientID: id, secret: secret)
        }
        guard let id = form["client_id"], !id.isEmpty else {
            throw OAuthError.invalidClient("client authentication is required: HTTP Basic, or client_id (and client_secret) in the body")
        }
        if let secret = form["client_secret"] { return .post(clientID: id, secret: secret) }
        return .none(clientID: id)
    }

    /// The registered client these credentials prove, or `invalid_client` (401): unknown, wrong
    /// secret, a confidential client without its secret, a public client with one.
    public func authenticate(in store: any OAuthClientStore) async throws -> OAuthClient {
        guard let client = try await store.client(id: clientID) else {
            throw OAuthError.invalidClient("client authentication failed")
        }
        switch self {
        case .basic(_, let secret), .post(_, let secret):
            guard !client.isPublic else { throw OAuthError.invalidClient("this client is public: it has no secret (send client_id alone)") }
            guard client.verifySecret(secret) else { throw OAuthError.invalidClient("client authentication failed") }
        case .none:
            guard client.isPublic else { throw OAuthError.invalidClient("this client is confidential: authenticate with its secret") }
        }
        return client
    }
}

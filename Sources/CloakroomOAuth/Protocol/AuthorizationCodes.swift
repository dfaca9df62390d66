public import CloakroomCore
public import CloakroomTokens
public import Foundation

/// Authorization codes (RFC 6749 §4.1.2 under OAuth 2.1): what the user approved, sealed into the
/// code itself, and single use through the token store.
///
/// - The code is a `Sealer` value (encrypted and authenticated, bound to the name
///   `cloakroom-oauth-code`, expiring after `lifetime`, 60 s): it carries the client, the redirect
///   URI, the user, the scope, the PKCE challenge, the nonce and the sign-in time, so no store holds
///   a pending code's details and every node can read it.
/// - It is also the first token of a refresh-token family (`TokenService.beginAuthorization`):
///   redeeming it is that family's first rotation, atomic in every store, so a code works once; a
///   second redemption revokes everything the first issued.
/// - Redemption checks, in this order: the seal; the client it was issued to; the redirect URI
///   (when the authorization request named one, the token request must name the same); the PKCE
///   verifier. Each failure is `invalid_grant` with its reason, and spends nothing: the rightful
///   client can still redeem the code.
public struct AuthorizationCodes: Sendable {
    /// What a code carries.
    public struct Grant: Codable, Sendable, Equatable {
        public var clientID: String
        public var redirectURI: String
        public var redirectURIGiven: Bool
        public var userID: String
        public var scope: String
        public var codeChallenge: String
        public var nonce: String?
        public var authTime: Date
        /// The handle of the browser session that approved it (the ID token's `sid`).
        public var sessionHandle: String?
        /// Makes two codes for the same request differ.
        var salt: String
    }

    /// A redeemed code: what it carried, and the tokens it bought.
    public struct Redemption: Sendable {
        public let grant: Grant
        public let tokens: TokenService.Grant
    }

    public static let lifetime: TimeInterval = 60
    static let sealName = "cloakroom-oauth-code"

    public let sealer: Sealer
    public let tokens: TokenService
    let clock: any CloakroomClock

    public init(sealer: Sealer, tokens: TokenService, clock: any CloakroomClock = SystemClock()) {
        self.sealer = sealer
        self.tokens = tokens
        self.clock = clock
    }

    /// A code for `request`, approved by `userID` (signed in at `authTime`).
    public func issue(for request: AuthorizationRequest, userID: String, authTime: Date, sessionHandle: String?) async throws -> String {
        let grant = Grant(
            clientID: request.client.id,
            redirectURI: request.redirectURI,
            redirectURIGiven: request.redirectURIGiven,
            userID: userID,
            scope: request.scope.description,
            codeChallenge: request.codeChallenge,
            nonce: request.nonce,
            authTime: authTime,
            sessionHandle: sessionHandle,
            salt: SecureToken(byteCount: 16).text
        )
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        let code = try sealer.seal(Array(try encoder.encode(grant)), name: Self.sealName, expires: clock.now().addingTimeInterval(Self.lifetime))
        try await tokens.beginAuthorization(code: code, userID: userID, clientID: grant.clientID, scope: grant.scope, lifetime: Self.lifetime)
        return code
    }

    /// Redeems `code` for the authenticated `clientID` (see the type's rules). Throws `OAuthError`
    /// (`invalid_grant`) for a code that cannot be redeemed; other errors are a store that failed.
    public func redeem(_ code: String, clientID: String, redirectURI: String?, codeVerifier: String?) async throws -> Redemption {
        let grant: Grant
        do {
            let bytes = try sealer.open(code, name: Self.sealName, now: clock.now())
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .millisecondsSince1970
            grant = try decoder.decode(Grant.self, from: Data(bytes))
        } catch let error as SealError where error.reason == .expired {
            throw OAuthError.invalidGrant("the authorization code has expired (codes last \(Int(Self.lifetime)) s)")
        } catch {
            throw OAuthError.invalidGrant("the authorization code is invalid")
        }
        guard ConstantTime.equals(grant.clientID, clientID) else {
            throw OAuthError.invalidGrant("the authorization code was issued to another client")
        }
        if grant.redirectURIGiven || redirectURI != nil {
            guard redirectURI == grant.redirectURI else {
                throw OAuthError.invalidGrant("redirect_uri does not match the one in the authorization request")
            }
        }
        do {
            try PKCE.verify(codeVerifier, challenge: grant.codeChallenge)
        } catch {
            throw OAuthError.invalidGrant(error.description)
        }
        do {
            let issued = try await tokens.exchangeAuthorization(code: code, userID: grant.userID, clientID: clientID)
            return Redemption(grant: grant, tokens: issued)
        } catch let error as TokenService.RefreshError {
            switch error.reason {
            case .reused:
                throw OAuthError.invalidGrant("the authorization code was already used; every token issued for it has been revoked")
            case .invalid, .wrongClient:
                throw OAuthError.invalidGrant("the authorization code is invalid, expired or revoked")
            }
        }
    }
}

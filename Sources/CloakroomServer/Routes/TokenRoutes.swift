import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomTokens
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Token sign-in: `GET /.well-known/jwks.json`, `POST /api/token` (password and refresh grants),
/// `POST /api/token/revoke` (RFC 7009).
struct TokenRoutes {
    let services: AppServices

    /// The token response (RFC 6749 section 5.1). With cookie transport the two tokens travel in
    /// HttpOnly cookies and are left out of the body.
    struct TokenResponse: Encodable {
        let accessToken: String?
        let tokenType = "Bearer"
        let expiresIn: Int
        let refreshToken: String?
        let refreshTokenExpiresIn: Int
        let scope: String

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
            case refreshToken = "refresh_token"
            case refreshTokenExpiresIn = "refresh_token_expires_in"
            case scope
        }
    }

    func addRoutes(to router: Router<CloakroomRequestContext>, api: RouterGroup<CloakroomRequestContext>) {
        router.get("/.well-known/jwks.json", use: jwks)
        router.get("/.well-known/openid-configuration") { [services] _, _ in try await OAuthRoutes.metadata(services: services, openID: true) }
        router.get("/.well-known/oauth-authorization-server") { [services] _, _ in
            try await OAuthRoutes.metadata(services: services, openID: false)
        }
        api.post("token", use: token)
        api.post("token/revoke", use: revoke)
    }

    // MARK: - Handlers

    /// One JWK Set holding the keys of several (the access-token and the ID-token keys).
    static func merged(_ sets: [String]) -> Data {
        var keys: [Any] = []
        for set in sets {
            guard let object = try? JSONSerialization.jsonObject(with: Data(set.utf8)) as? [String: Any],
                let members = object["keys"] as? [Any]
            else { continue }
            keys += members
        }
        return (try? JSONSerialization.data(withJSONObject: ["keys": keys], options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data(#"{"keys":[]}"#.utf8)
    }

    @Sendable func jwks(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let body = Self.merged([await services.keyRing.jwks(), await services.idTokenKeys.jwks()])
        let etag = "\"" + SHA256.hash(data: body).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
        // `keys rotate` publishes the next key longer than this ahead of its first signature, so a
        // verifier that caches the set for this long already holds every key it will meet.
        var headers: HTTPFields = [.cacheControl: "public, max-age=\(Int(TokenKeyRing.jwksMaxAge))", .eTag: etag]
        // RFC 9110 section 13.1.2: weak comparison, and `*` matches any current representation.
        let matches = request.headers[values: .ifNoneMatch].flatMap { $0.split(separator: ",") }.contains { candidate in
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
        if matches {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/jwk-set+json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    @Sendable func token(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let fields = try await Self.fields(request)
        let grantType = fields["grant_type"] ?? (fields["refresh_token"] != nil && fields["username"] == nil ? "refresh_token" : "password")
        let grant: TokenService.Grant
        switch grantType {
        case "password":
            guard let username = fields["username"], !username.isEmpty else { throw APIError.invalidField("username", "is required") }
            guard let password = fields["password"] else { throw APIError.invalidField("password", "is required") }
            // Until clients are registered (OAuth), the password grant serves one client: this
            // server's own. Another client_id is refused, not written into the token.
            if let clientID = fields["client_id"], clientID != services.tokens.configuration.clientID {
                throw APIError(
                    .unauthorized,
                    code: "invalid_client",
                    message: "unknown client_id; this server issues tokens only to \(services.tokens.configuration.clientID)"
                )
            }
            let account = try await services.signIn.authenticate(username: username, password: password, address: context.clientAddress)
            // RFC 6749 section 3.3: the server may grant less than asked and says what it granted in
            // `scope`. No scope is grantable by password sign-in, so whatever is asked for is dropped.
            grant = try await services.tokens.signIn(userID: account.id, clientID: nil, scope: "")
        case "refresh_token":
            let presented = fields["refresh_token"] ?? services.tokenCookies.flatMap { request.cookie(named: $0.refreshCookieName) }
            guard let presented, !presented.isEmpty else { throw APIError.invalidField("refresh_token", "is required") }
            // This endpoint serves Cloakroom's own client only: a registered OAuth client refreshes at
            // /token with its authentication, and a remember-me token is no refresh token. Checked
            // before the rotation, so a refused token is not spent.
            let firstParty = services.tokens.configuration.clientID
            if let clientID = fields["client_id"], clientID != firstParty {
                throw APIError(.unauthorized, code: "invalid_client", message: "unknown client_id; this server issues tokens only to \(firstParty)")
            }
            grant = try await services.tokens.refresh(presented, clientID: firstParty)
            guard try await services.backends.accounts.account(id: grant.claims.subject).map({ !$0.disabled }) == true else {
                try await services.tokens.revokeEverything(forUser: grant.claims.subject)
                throw TokenService.RefreshError(reason: .invalid)
            }
        default:
            throw APIError(.badRequest, code: "unsupported_grant_type", message: "grant_type must be password or refresh_token")
        }
        return try response(for: grant)
    }

    @Sendable func revoke(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let fields = try await Self.fields(request)
        var headers: HTTPFields = [.cacheControl: "no-store"]
        if let token = fields["token"], !token.isEmpty {
            try await services.tokens.revoke(token)
        } else if let cookies = services.tokenCookies {
            let presented = request.cookie(named: cookies.refreshCookieName)
            if let presented { try await services.tokens.revoke(presented) }
            if let access = request.cookie(named: cookies.accessCookieName) {
                try await services.tokens.revoke(access)
            }
            for cookie in cookies.expiredCookies() { headers.append(HTTPField(name: .setCookie, value: try cookie.setCookieHeaderValue())) }
        } else {
            throw APIError.invalidField("token", "is required")
        }
        // RFC 7009 section 2.2: 200 whether or not the token was valid.
        return Response(status: .ok, headers: headers)
    }

    // MARK: - Helpers

    func response(for grant: TokenService.Grant) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store", HTTPField.Name("Pragma")!: "no-cache"]
        let body: TokenResponse
        if let cookies = services.tokenCookies {
            headers.append(
                HTTPField(name: .setCookie, value: try cookies.accessCookie(grant.accessToken, maxAge: grant.expiresIn).setCookieHeaderValue())
            )
            headers.append(
                HTTPField(
                    name: .setCookie,
                    value: try cookies.refreshCookie(grant.refreshToken, maxAge: grant.refreshExpiresIn).setCookieHeaderValue()
                )
            )
            body = TokenResponse(
                accessToken: nil,
                expiresIn: grant.expiresIn,
                refreshToken: nil,
                refreshTokenExpiresIn: grant.refreshExpiresIn,
                scope: grant.scope
            )
        } else {
            body = TokenResponse(
                accessToken: grant.accessToken,
                expiresIn: grant.expiresIn,
                refreshToken: grant.refreshToken,
                refreshTokenExpiresIn: grant.refreshExpiresIn,
                scope: grant.scope
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(body))))
    }

    /// The request's parameters, from a JSON object of strings or a form (RFC 6749 uses forms).
    static func fields(_ request: Request) async throws -> [String: String] {
        switch Bodies.mediaType(request) {
        case "application/x-www-form-urlencoded":
            return try await Bodies.form(from: request)
        case "application/json":
            let object = try await Bodies.json([String: JSONField].self, from: request)
            var fields: [String: String] = [:]
            for (name, field) in object {
                switch field {
                case .text(let text): fields[name] = text
                case .absent: break
                case .other:
                    // RFC 6749 section 3.2: unknown parameters are ignored; a known one must be a string.
                    if Self.parameterNames.contains(name) { throw APIError.invalidField(name, "must be a string") }
                }
            }
            return fields
        case nil where request.method == .post:
            // An empty body (cookie transport: refresh or revoke from the cookie).
            let buffer = try await Bodies.collect(request)
            guard buffer.readableBytes == 0 else { throw APIError.unsupportedMediaType("application/json or application/x-www-form-urlencoded") }
            return [:]
        default:
            throw APIError.unsupportedMediaType("application/json or application/x-www-form-urlencoded")
        }
    }

    /// The parameters these endpoints read (RFC 6749 sections 4.3 and 6, RFC 7009 section 2.1).
    static let parameterNames: Set<String> = [
        "grant_type", "username", "password", "refresh_token", "client_id", "scope", "token", "token_type_hint",
    ]

    /// A JSON member: a string, null, or anything else (refused only for a known parameter).
    enum JSONField: Decodable {
        case text(String)
        case absent
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .absent
            } else if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .other
            }
        }
    }
}

/// Answers the token endpoints' refusals as OAuth does (``APIError/oauth()``); added to their
/// route group before the CSRF check, so its refusals get the same shape.
struct OAuthErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error.oauth()
        } catch {
            guard let mapped = APIError(mapping: error) else { throw error }
            throw mapped.oauth()
        }
    }
}

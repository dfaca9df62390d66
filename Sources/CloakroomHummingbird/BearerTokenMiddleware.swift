import CloakroomCore
public import CloakroomTokens
import Foundation
import HTTPTypes
public import Hummingbird

/// A request context that can carry a verified access token, set by `BearerTokenMiddleware`.
public protocol TokenRequestContext: RequestContext {
    /// The verified claims of the request's access token, if it presented one.
    var accessToken: AccessTokenClaims? { get set }
}

/// Authenticates `Authorization: Bearer TOKEN` (RFC 6750 section 2.1), or, when `cookies` is
/// given, the access token cookie of `--token-transport cookie`.
///
/// A request without a token passes through anonymous (routes decide whether they need one); a
/// request with a token that does not verify, or was revoked, is refused at once with 401 and
/// `WWW-Authenticate: Bearer error="invalid_token", error_description="CODE: …"`, and a JSON body
/// `{"error": "invalid_token", "reason": CODE, "message": …}`. A malformed `Authorization`
/// header with the Bearer scheme is a 400 `invalid_request` (RFC 6750 section 3.1).
public struct BearerTokenMiddleware<Context: TokenRequestContext>: RouterMiddleware {
    let authenticate: @Sendable (String) async throws -> AccessTokenClaims
    let cookies: TokenCookieSettings?

    /// Authenticates with `service` (signature, claims, revocation).
    public init(service: TokenService, cookies: TokenCookieSettings? = nil) {
        self.authenticate = { try await service.authenticate($0) }
        self.cookies = cookies
    }

    /// Authenticates with `verifier` alone (signature and claims, no revocation store): for a
    /// resource server that trusts another server's tokens through its JWKS.
    public init(verifier: TokenVerifier, cookies: TokenCookieSettings? = nil) {
        self.authenticate = { try await verifier.verify($0) }
        self.cookies = cookies
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = try Self.presentedToken(request, cookies: cookies) else {
            return try await next(request, context)
        }
        var context = context
        do {
            context.accessToken = try await authenticate(token)
        } catch let error as TokenError {
            // Answered here (401 + WWW-Authenticate) so that apps without ErrorMiddleware get it right.
            throw APIError(mapping: error) ?? APIError.unauthenticated()
        }
        var response = try await next(request, context)
        // What a token unlocks is private to its holder (RFC 6750 section 5.3): no cache keeps it.
        response.headers[.cacheControl] = "no-store"
        if !response.headers[values: .vary].contains(where: { $0.lowercased().contains("authorization") }) {
            response.headers.append(HTTPField(name: .vary, value: "Authorization"))
        }
        return response
    }

    /// 400 for an `Authorization: Bearer` header that carries no usable token (RFC 6750 section 3.1).
    static func invalidRequest() -> APIError {
        APIError(
            .badRequest,
            code: "invalid_request",
            message: "Authorization: expected Bearer followed by a token",
            headers: [.wwwAuthenticate: "Bearer error=\"invalid_request\""]
        )
    }

    /// The token in the `Authorization` header, else in the access cookie; nil when neither.
    public static func presentedToken(_ request: Request, cookies: TokenCookieSettings?) throws -> String? {
        let authorizations = request.headers[values: .authorization]
        if let header = authorizations.first {
            guard authorizations.count == 1 else {
                throw APIError.invalidField("Authorization", "send one Authorization header")
            }
            let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                if parts.first?.lowercased() == "bearer" { throw invalidRequest() }
                return nil  // Another scheme: not ours to judge.
            }
            let token = parts[1].trimmingCharacters(in: .whitespaces)
            guard !token.isEmpty, !token.contains(" ") else { throw invalidRequest() }
            return token
        }
        if let cookies {
            return request.cookie(named: cookies.accessCookieName)
        }
        return nil
    }
}

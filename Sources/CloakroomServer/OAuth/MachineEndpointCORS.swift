import CloakroomHummingbird
import HTTPTypes
import Hummingbird

/// CORS for the OAuth endpoints a browser application calls from its own origin (`/token`,
/// `/revoke`, `/userinfo`, `/.well-known/…`): they take no cookie (a public client's PKCE
/// verifier, or a Bearer token, is the whole credential), so any origin may read their answers
/// (`Access-Control-Allow-Origin: *`, never with credentials). A preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) is answered 204 here. Every other path is untouched: the
/// pages and the account API stay same-origin.
struct MachineEndpointCORS<Context: RequestContext>: RouterMiddleware {
    let paths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard paths.contains(request.uri.path) || request.uri.path.hasPrefix("/.well-known/") else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[HTTPField.Name("Access-Control-Request-Method")!] != nil {
            return Response(
                status: .noContent,
                headers: [
                    HTTPField.Name("Access-Control-Allow-Origin")!: "*",
                    HTTPField.Name("Access-Control-Allow-Methods")!: "GET, POST",
                    HTTPField.Name("Access-Control-Allow-Headers")!: "Authorization, Content-Type",
                    HTTPField.Name("Access-Control-Max-Age")!: "600",
                ]
            )
        }
        var response = try await next(request, context)
        response.headers[HTTPField.Name("Access-Control-Allow-Origin")!] = "*"
        return response
    }
}

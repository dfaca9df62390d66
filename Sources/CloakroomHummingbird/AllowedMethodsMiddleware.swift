import HTTPTypes
public import Hummingbird

/// Answers a request for a known path with a method it does not take: `405 Method Not Allowed`
/// with an `Allow` header (RFC 9110 section 15.5.6) and the JSON error
/// `{"error":"method_not_allowed"}`, and `OPTIONS` with `204` and `Allow`; unknown paths stay
/// `404`.
///
/// A Hummingbird router applies a middleware only to routes added after it, and to its not-found
/// responder: add this one last, after every route, so it sees only what no route took.
///
/// ```swift
/// let router = Router(context: MyContext.self, options: .autoGenerateHeadEndpoints)
/// // … routes …
/// router.add(middleware: AllowedMethodsMiddleware(routes: router.routes))
/// ```
public struct AllowedMethodsMiddleware<Context: RequestContext>: RouterMiddleware {
    /// One route's path, split into segments, and the methods it takes.
    struct Route: Sendable {
        let segments: [Substring]
        var methods: Set<HTTPRequest.Method>
    }

    let routes: [Route]

    /// Creates the middleware from the router's routes (`router.routes`), after they are all added.
    public init(routes: [Router<Context>.RouteDescription]) {
        var byPath: [String: Route] = [:]
        for route in routes {
            let path = route.path.description
            byPath[path, default: Route(segments: Self.segments(of: path), methods: [])].methods.insert(route.method)
        }
        self.routes = Array(byPath.values)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let methods = allowedMethods(forPath: request.uri.path)
            guard !methods.isEmpty, !methods.contains(request.method) else { throw error }
            var allowed = methods
            if allowed.contains(.get) { allowed.insert(.head) }
            allowed.insert(.options)
            let allow = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            if request.method == .options {
                return Response(status: .noContent, headers: [.allow: allow])
            }
            throw APIError(
                .methodNotAllowed,
                code: "method_not_allowed",
                message: "\(request.method.rawValue) is not allowed here; allowed: \(allow)",
                headers: [.allow: allow]
            )
        }
    }

    /// The methods the routes matching `path` take; empty when no route matches it.
    func allowedMethods(forPath path: String) -> Set<HTTPRequest.Method> {
        let requested = Self.segments(of: path)
        var methods: Set<HTTPRequest.Method> = []
        for route in routes where Self.matches(route.segments, requested) {
            methods.formUnion(route.methods)
        }
        return methods
    }

    static func segments(of path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// Whether a route pattern's segments match a path's: `:name`, `{…}` and `*` take any one
    /// segment, `**` the rest of the path.
    static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        var index = 0
        for segment in pattern {
            if segment == "**" { return true }
            guard index < path.count else { return false }
            let any = segment == "*" || segment.hasPrefix(":") || segment.contains("{")
            guard any || segment == path[index] else { return false }
            index += 1
        }
        return index == path.count
    }
}

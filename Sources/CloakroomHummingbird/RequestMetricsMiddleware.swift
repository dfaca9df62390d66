import CloakroomCore
public import CoreMetrics
public import Hummingbird
import Synchronization

/// Counts every request by route, method and status and records its latency, on a swift-metrics
/// factory the caller chooses (`Counter`/`Timer` with an explicit factory, so nothing global is
/// bootstrapped and two servers in one process keep separate figures):
///
/// - `cloakroom_http_requests_total{method,route,status}`
/// - `cloakroom_http_request_duration_seconds{method,route}` (a histogram with a Prometheus factory)
///
/// The route is the matched pattern (`/api/sessions/{handle}`), never the raw path, so a scan of
/// random URLs cannot grow the series without bound: a request no route matched is `route="unmatched"`.
/// Add it first, outside the error middleware, so the status is the one the client received.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let factory: any MetricsFactory
    let cache: RequestMetricsCache

    /// Records on `factory`.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        self.cache = RequestMetricsCache()
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request.method, context, response.status.code, since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(request.method, context, status, since: start)
            throw error
        }
    }

    private func record(_ method: HTTPRequest.Method, _ context: Context, _ status: Int, since start: ContinuousClock.Instant) {
        // Hummingbird names an unmatched request's endpoint "NotFound"; routes all start with "/".
        let route = context.endpointPath.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "unmatched"
        let instruments = cache.instruments(RequestMetricsKey(method: method.rawValue, route: route, status: status), factory: factory)
        instruments.requests.increment()
        instruments.duration.recordNanoseconds((ContinuousClock.now - start).wholeNanoseconds)
    }
}

/// A series: one counter per method, route and status. Outside the generic middleware, so that
/// finding its instruments needs no type metadata looked up at run time (issue 11's profile).
struct RequestMetricsKey: Hashable {
    let method: String
    let route: String
    let status: Int
}

/// The instruments of one series.
struct RequestMetricsInstruments: Sendable {
    let requests: Counter
    let duration: CoreMetrics.Timer
}

/// Each series' instruments, made once.
final class RequestMetricsCache: Sendable {
    private let entries = Mutex<[RequestMetricsKey: RequestMetricsInstruments]>([:])

    func instruments(_ key: RequestMetricsKey, factory: any MetricsFactory) -> RequestMetricsInstruments {
        if let found = entries.withLock({ $0[key] }) { return found }
        let made = RequestMetricsInstruments(
            requests: Counter(
                label: "cloakroom_http_requests_total",
                dimensions: [("method", key.method), ("route", key.route), ("status", String(key.status))],
                factory: factory
            ),
            duration: Timer(
                label: "cloakroom_http_request_duration_seconds",
                dimensions: [("method", key.method), ("route", key.route)],
                factory: factory
            )
        )
        return entries.withLock { entries in
            if let found = entries[key] { return found }
            entries[key] = made
            return made
        }
    }
}

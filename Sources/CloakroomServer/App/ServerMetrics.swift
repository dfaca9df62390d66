import CloakroomIdentity
import CloakroomSessions
import Prometheus

/// One server's figures, in its own Prometheus registry (not swift-metrics' global one, so two
/// servers in one process, as the tests run them, keep apart), served as text at `GET /metrics`.
///
/// What is counted: requests by route, method and status with their latency
/// (`RequestMetricsMiddleware`), sessions created, loaded and expired (`SessionMetrics`), store
/// operations, errors and latency by store (`MeteredSessionStore`), and sign-in throttle refusals
/// (`ThrottleMetrics`).
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let sessions: SessionMetrics
    let throttle: ThrottleMetrics

    init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Requests here take a millisecond or a few; a password hash takes a few dozen.
        factory.defaultDurationHistogramBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5].map(Self.duration)
        // A store round trip is well under a millisecond on loopback.
        factory.durationHistogramBuckets["cloakroom_store_operation_duration_seconds"] =
            [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2].map(Self.duration)
        self.registry = registry
        self.factory = factory
        self.sessions = SessionMetrics(factory: factory)
        self.throttle = ThrottleMetrics(factory: factory)
    }

    /// The Prometheus text exposition of every figure (format 0.0.4).
    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16_384)
        registry.emit(into: &buffer)
        return buffer
    }

    private static func duration(_ seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}

import ServiceLifecycle
import Synchronization

/// Whether the node is draining: shutting down, so `/healthz` answers 503 `draining` and a load
/// balancer sends it no new traffic while the requests it has finish.
final class DrainState: Sendable {
    private let draining = Atomic<Bool>(false)

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    func begin() { draining.store(true, ordering: .relaxed) }
}

/// The first service to hear a graceful shutdown (SIGTERM or SIGINT): it marks the node draining and
/// waits `delay` (`--drain-seconds`), long enough for a balancer's health checks to see it, before
/// the HTTP server stops accepting connections and finishes the requests in flight.
///
/// ServiceLifecycle shuts services down in reverse order, so this one is listed after the application.
struct DrainOnShutdown: Service {
    let state: DrainState
    let delay: Duration

    func run() async throws {
        // Throws only when cancelled (the group failed): then there is nothing to drain.
        try await gracefulShutdown()
        state.begin()
        if delay > .zero { try? await Task.sleep(for: delay) }
    }
}

import ServiceLifecycle

/// Runs `work` every `interval` until graceful shutdown; failures are retried next time.
struct PeriodicTask: Service {
    let interval: Duration
    let work: @Sendable () async throws -> Void

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                try? await work()
            }
        }
    }
}

import ServiceLifecycle

/// Runs `work` every `interval` until graceful shutdown; failures are retried next time.
struct PeriodicTask: Service {
    let interval: Duration
    let work: @Sendable () async throws -> Void

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            try? await work()
        }
    }
}

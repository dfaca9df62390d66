/// An async semaphore with a bounded queue: at most `limit` holders, at most `maxWaiting` waiters.
actor ConcurrencyGate {
    private let limit: Int
    private let maxWaiting: Int
    private var inUse = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int, maxWaiting: Int) {
        self.limit = max(1, limit)
        self.maxWaiting = max(0, maxWaiting)
    }

    /// Runs `body` holding a permit; throws `IdentityError.busy` when the queue is full.
    nonisolated func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await acquire()
        do {
            let value = try await body()
            await release()
            return value
        } catch {
            await release()
            throw error
        }
    }

    private func acquire() async throws {
        if inUse < limit {
            inUse += 1
            return
        }
        guard waiters.count < maxWaiting else { throw IdentityError.busy() }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            inUse -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

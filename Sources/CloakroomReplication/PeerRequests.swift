/// Questions put to several peers at once (a session's copies, a user's sessions) and their
/// answers, matched by request number; shared by both replicating topologies.
actor PeerRequests {
    struct Reply {
        var peer: String
        var records: [ReplicationMessage.SyncedRecord]
        /// For a `fetch`: the node the peer takes for the session's owner ("" when it does not know),
        /// and whether it handed the session over to the asker.
        var owner = ""
        var handedOver = false
    }

    /// What came back: the answers, and the peers whose link went down before they answered.
    struct Answers {
        var replies: [Reply] = []
        var gone: Set<String> = []
    }

    private struct Request {
        var waitingFor: Set<String>
        var answers = Answers()
        var finished = false
        var continuation: CheckedContinuation<Answers, Never>?
    }

    private var requests: [UInt64: Request] = [:]
    private var nextRequest: UInt64 = 1

    /// Sends `message(request)` to each of `peers` on `mesh` and returns their answers, once each
    /// answered or went down, or after `timeout`. A peer in neither list was slow: still linked,
    /// it did not answer in time.
    func ask(
        _ peers: [String],
        on mesh: PeerMesh,
        timeout: Duration,
        _ message: @Sendable (UInt64) -> ReplicationMessage
    ) async -> Answers {
        let request = newRequest(waitingFor: Set(peers))
        let payload = message(request)
        for peer in peers {
            await mesh.send(to: peer, wait: false) { _ in payload }
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.finish(request)
        }
        defer { timer.cancel() }
        return await replies(to: request)
    }

    /// `peer`'s answer to `id`.
    func answer(
        _ id: UInt64,
        from peer: String,
        _ records: [ReplicationMessage.SyncedRecord],
        owner: String = "",
        handedOver: Bool = false
    ) {
        guard var request = requests[id], request.waitingFor.remove(peer) != nil else { return }
        request.answers.replies.append(Reply(peer: peer, records: records, owner: owner, handedOver: handedOver))
        requests[id] = request
        if request.waitingFor.isEmpty { finish(id) }
    }

    /// `peer`'s link is down: its answers will not come, and no open request waits for them. It is
    /// recorded as gone, not as an empty answer: an asker that found nothing elsewhere cannot
    /// conclude there is nothing (the peer may have held the only copy), and answers 503 so the
    /// client tries again once the links have settled, rather than being signed out.
    func peerGone(_ peer: String) {
        for id in requests.keys {
            guard var request = requests[id], request.waitingFor.remove(peer) != nil else { continue }
            request.answers.gone.insert(peer)
            requests[id] = request
            if request.waitingFor.isEmpty { finish(id) }
        }
    }

    private func newRequest(waitingFor peers: Set<String>) -> UInt64 {
        defer { nextRequest += 1 }
        requests[nextRequest] = Request(waitingFor: peers)
        return nextRequest
    }

    /// No more answers are awaited (all came, or the time is up).
    private func finish(_ id: UInt64) {
        guard var request = requests[id] else { return }
        if let continuation = request.continuation {
            requests[id] = nil
            continuation.resume(returning: request.answers)
        } else {
            request.finished = true
            requests[id] = request
        }
    }

    private func replies(to id: UInt64) async -> Answers {
        await withCheckedContinuation { continuation in
            guard var request = requests[id] else { return continuation.resume(returning: Answers()) }
            if request.finished || request.waitingFor.isEmpty {
                requests[id] = nil
                continuation.resume(returning: request.answers)
            } else {
                request.continuation = continuation
                requests[id] = request
            }
        }
    }
}

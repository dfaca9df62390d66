import Foundation
import Synchronization

/// A one-line progress bar on standard error, redrawn at most 10 times a second.
final class ProgressBar: Sendable {
    private let label: String
    private let total: Int
    private let state = Mutex<(done: Int, lastDraw: Double)>((0, 0))
    private let started = Date()

    init(label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    func advance(by count: Int = 1) {
        let (done, draw) = state.withLock { state -> (Int, Bool) in
            state.done += count
            let now = Date().timeIntervalSinceReferenceDate
            if now - state.lastDraw >= 0.1 || state.done >= total {
                state.lastDraw = now
                return (state.done, true)
            }
            return (state.done, false)
        }
        if draw { render(done) }
    }

    func finish() {
        render(total)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func render(_ done: Int) {
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let elapsed = Date().timeIntervalSince(started)
        let line = String(
            format: "\r%@ [%@] %3.0f%% %d/%d %.1fs",
            label.padding(toLength: 24, withPad: " ", startingAt: 0),
            bar,
            fraction * 100,
            min(done, total),
            total,
            elapsed
        )
        FileHandle.standardError.write(Data(line.utf8))
    }
}

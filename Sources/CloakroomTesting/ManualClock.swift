public import CloakroomCore
public import Foundation
import Synchronization

/// A clock tests move by hand instead of sleeping.
public final class ManualClock: CloakroomClock {
    private let current: Mutex<Date>

    /// Starts at `start` (default 2026-01-01T00:00:00Z).
    public init(start: Date = Date(timeIntervalSince1970: 1_767_225_600)) {
        self.current = Mutex(start)
    }

    /// The clock's time.
    public func now() -> Date { current.withLock { $0 } }

    /// Moves time forward by `seconds`.
    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    /// Sets the time.
    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}

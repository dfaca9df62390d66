public import Foundation

/// Where Cloakroom reads the time. Injected everywhere, so tests move time instead of sleeping.
public protocol CloakroomClock: Sendable {
    /// The current wall-clock time.
    func now() -> Date
}

/// The system's wall clock.
public struct SystemClock: CloakroomClock {
    /// Creates the system clock.
    public init() {}
    /// `Date()`.
    public func now() -> Date { Date() }
}

extension Date {
    /// Milliseconds since 1970 as stores keep them, clamped to ±9×10¹⁵ (about ±285,000 years) so
    /// that no date, however far off or not finite, can trap the conversion to an integer.
    public var storedMilliseconds: Int64 {
        let value = (timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return 0 }
        return Int64(max(-9.0e15, min(9.0e15, value)))
    }
}

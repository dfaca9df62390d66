import Foundation

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

extension Duration {
    /// The duration in whole nanoseconds (what swift-metrics' `Timer.recordNanoseconds` takes).
    package var wholeNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}

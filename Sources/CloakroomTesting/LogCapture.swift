public import Logging
public import Synchronization

/// A logger whose output can be read back: tests check what was logged, and that nothing secret was.
public final class LogCapture: Sendable {
    /// Each message with its metadata, in order.
    public let lines = Mutex<[String]>([])

    public init() {}

    /// A logger (every level) writing here.
    public var logger: Logger {
        Logger(label: "capture") { _ in CapturingLogHandler(capture: self) }
    }

    /// Every line, one per message.
    public var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

/// The handler behind `LogCapture.logger`: keeps every message and its metadata.
public struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        capture.lines.withLock { $0.append("\(event.message) \(all)") }
    }
}

import Logging

/// The server's log handler: the lines of `StreamLogHandler.standardError`, byte for byte, with
/// the logger's metadata formatted only when a message is written.
///
/// `StreamLogHandler` formats its metadata into text whenever the metadata changes, and Hummingbird
/// gives every request's logger a request ID, so a server that writes no line for a request still
/// formatted that request's metadata: about 3% of the CPU of a signed-in `GET /api/me` (issue 11's
/// profile). This handler keeps the metadata as it is and hands it over when a line is written.
struct ServerLogHandler: LogHandler {
    private var stream: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    /// Writes to standard error as `StreamLogHandler.standardError(label:)` does.
    init(label: String) {
        stream = .standardError(label: label)
    }

    /// Writes to `stream` (tests).
    init(label: String, stream: any TextOutputStream & Sendable) {
        self.stream = StreamLogHandler(label: label, stream: stream, metadataProvider: nil)
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var stream = self.stream
        stream.metadata = metadata
        stream.log(event: event)
    }
}

extension Logger {
    /// The server's logger, labelled `cloakroom`, writing to standard error (as an unconfigured swift-log logger does).
    static func cloakroom() -> Logger {
        Logger(label: "cloakroom") { ServerLogHandler(label: $0) }
    }
}

import Foundation
import Logging
import Synchronization
import Testing

@testable import CloakroomServer

/// The server's log handler writes the lines `StreamLogHandler` writes, though it formats the
/// metadata only when a line is written.
struct ServerLogHandlerTests {
    /// Lines written, in order.
    final class Lines: TextOutputStream, Sendable {
        private let lines = Mutex<[String]>([])
        func write(_ string: String) { lines.withLock { $0.append(string) } }
        var all: [String] { lines.withLock { $0 } }
    }

    /// A line without its timestamp (the text before the first space), which may differ by a second.
    static func untimed(_ line: String) -> String {
        String(line.drop(while: { $0 != " " }))
    }

    @Test("the same lines as StreamLogHandler: metadata set one key at a time, replaced, per message, levels")
    func sameLinesAsStreamLogHandler() {
        let ours = Lines()
        let theirs = Lines()
        var server = Logger(label: "cloakroom") { ServerLogHandler(label: $0, stream: ours) }
        var stream = Logger(label: "cloakroom") { StreamLogHandler(label: $0, stream: theirs, metadataProvider: nil) }
        func both(_ change: (inout Logger) -> Void) {
            change(&server)
            change(&stream)
        }
        both { $0.logLevel = .info }
        both { $0.debug("not written") }
        both { $0.info("no metadata") }
        both { $0[metadataKey: "hb.request.id"] = "7" }
        both { $0[metadataKey: "b"] = "2" }
        both { $0[metadataKey: "a"] = "1" }
        both { $0.notice("three keys, sorted") }
        both { $0[metadataKey: "b"] = nil }
        both { $0.warning("one removed, one for this line", metadata: ["z": "9", "a": "override"]) }
        both { $0.error("after the per-line metadata") }
        #expect(ours.all.count == 4)
        #expect(ours.all.map(Self.untimed) == theirs.all.map(Self.untimed))
        #expect(ours.all.map(Self.untimed).contains(" notice cloakroom: a=1 b=2 hb.request.id=7 [CloakroomServerTests] three keys, sorted\n"))
        #expect(ours.all.last.map(Self.untimed) == " error cloakroom: a=1 hb.request.id=7 [CloakroomServerTests] after the per-line metadata\n")
    }
}

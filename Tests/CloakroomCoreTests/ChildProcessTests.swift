import Foundation
import Testing

@testable import CloakroomCore

#if canImport(Glibc)
import Glibc
#endif

/// `ChildProcess`: how the test servers and the cluster's processes are started and reaped.
@Suite("Child processes")
struct ChildProcessTests {
    @Test("a program's exit status and output; a signal's death as 128 + the signal")
    func statusAndOutput() async throws {
        let (status, output) = try await ChildProcess.run(["sh", "-c", "echo hello; exit 3"])
        #expect(status == 3)
        #expect(output == "hello\n")
        let child = try ChildProcess(["sleep", "30"])
        #expect(child.isRunning)
        child.signal(SIGKILL)
        #expect(await child.waitForExit() == 128 + SIGKILL)
        #expect(!child.isRunning)
        await #expect(throws: ChildProcess.Failure.self) { _ = try await ChildProcess.run(["no-such-program-here"]) }
    }

    @Test("the child inherits no descriptor but 0, 1 and 2, and starts with no signal blocked")
    func nothingLeaks() async throws {
        // A descriptor this process holds open without close-on-exec, as a test's socket may be.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer {
            close(ends[0])
            close(ends[1])
        }
        let (_, listing) = try await ChildProcess.run(["sh", "-c", "ls /proc/$$/fd"])
        #expect(listing.split(separator: "\n").sorted() == ["0", "1", "2"], "the child holds \(listing)")
        let (_, blocked) = try await ChildProcess.run(["grep", "-E", "SigBlk|SigIgn", "/proc/self/status"])
        #expect(blocked.contains("0000000000000000"), "\(blocked)")
        let (_, directory) = try await ChildProcess.run(["pwd"], directory: "/tmp")
        #expect(directory == "/tmp\n")
    }
}

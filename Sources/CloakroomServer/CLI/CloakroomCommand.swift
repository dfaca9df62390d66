import ArgumentParser
import CloakroomBench
import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomLab
import CloakroomSessions
import CloakroomTokens
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `cloakroom`: the server and its operator tools.
@main
struct CloakroomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloakroom",
        abstract: "Sign-in, sessions and tokens for Swift servers.",
        subcommands: [Serve.self, Users.self, Clients.self, Sessions.self, Keys.self, Token.self, Bench.self, Cluster.self, Lab.self]
    )

    /// Parses and runs the chosen command, as swift-argument-parser's own `main()` does, except
    /// for what a command's `run()` throws: anything but a usage error (`ValidationError`) is a
    /// runtime failure, printed as one `error: …` line with exit status 1 (`CommandFailure`).
    /// Bad flags and arguments keep the usage text and status 64.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot(nil)
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var command = command
                try command.run()
            }
        } catch {
            exit(withError: CommandFailure.exitError(for: error))
        }
    }
}

import ArgumentParser
import CloakroomIdentity
import Foundation

/// A command that was used correctly but could not do its work (an unknown account or session, a
/// name already taken, a key file that cannot be read, a store that cannot be reached).
///
/// `cloakroom` prints it as one line, `error: …`, on standard error and exits with status 1.
/// Usage errors (a bad flag, argument or configuration value) stay `ValidationError`: status 64
/// with the usage (sysexits `EX_USAGE`).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension CommandFailure {
    /// The `error: …` line for an error that left a command's `run()`, or nil for what
    /// swift-argument-parser reports itself (usage errors, exit codes, clean exits).
    static func message(for error: any Error) -> String? {
        // swift-argument-parser's own errors (a help request from `cloakroom help` or `--help`
        // arrives as its internal `CommandError`, thrown by the built-in help command's run())
        // go back to it, so it prints the help or the usage.
        if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return nil }
        return switch error {
        case is ValidationError, is ExitCode, is CleanExit: nil
        case let error as IdentityError: error.message
        default: String(describing: error)
        }
    }

    /// What `cloakroom` exits with for an error that left a command's `run()`: a runtime failure
    /// is printed as `error: …` on standard error and becomes exit status 1, never the usage text;
    /// anything else goes to swift-argument-parser as it is.
    static func exitError(for error: any Error) -> any Error {
        guard let message = message(for: error) else { return error }
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return ExitCode.failure
    }
}

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
    /// What `cloakroom` does with an error that left a command's `run()`: usage errors, exit codes
    /// and clean exits go to swift-argument-parser as they are; everything else becomes
    /// `error: …` and exit status 1, never the usage text.
    static func exitError(for error: any Error) -> any Error {
        switch error {
        case is ValidationError, is ExitCode, is CleanExit:
            return error
        case let error as IdentityError:
            return exit(error.message)
        default:
            return exit(String(describing: error))
        }
    }

    /// Prints `error: message` on standard error; the caller throws the returned exit code (1).
    static func exit(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return ExitCode.failure
    }
}

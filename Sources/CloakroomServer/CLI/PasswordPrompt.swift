import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a password: from a prompt with echo off when stdin is a terminal, else one line of stdin.
enum PasswordPrompt {
    static func read(prompt: String) throws -> String {
        if isatty(STDIN_FILENO) == 1 {
            FileHandle.standardError.write(Data(prompt.utf8))
            var original = termios()
            tcgetattr(STDIN_FILENO, &original)
            var silent = original
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSANOW, &silent)
            defer {
                tcsetattr(STDIN_FILENO, TCSANOW, &original)
                FileHandle.standardError.write(Data("\n".utf8))
            }
            guard let line = readLine(strippingNewline: true) else { throw ConfigurationError("no password given") }
            return try checked(line)
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ConfigurationError("no password on standard input")
        }
        return try checked(line)
    }

    /// `readLine` replaces bytes that are not UTF-8 with U+FFFD; such a password could never be
    /// typed again the same way, so it is refused rather than stored.
    static func checked(_ line: String) throws -> String {
        guard !line.unicodeScalars.contains("\u{FFFD}") else {
            throw CommandFailure("the password is not valid UTF-8 text")
        }
        return line
    }
}

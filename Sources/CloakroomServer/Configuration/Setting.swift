import CloakroomCore
import CloakroomReplication
import Foundation

/// One setting of the command line: its environment variable and how its text is read.
///
/// Every setting follows one rule, applied in one place (``SettingReader``): the flag's value,
/// else the environment variable's, else the default. Settings are declared once, in a table
/// (`Serve.settings`, `StoreOptions`, `KeyFileOptions`), instead of one hand-written
/// `flag ?? environment[…] ?? default` per value.
struct Setting<Command>: Sendable {
    /// How the flag and the variable combine.
    enum Precedence: Sendable {
        /// The flag's text, else the variable's (most settings).
        case flagThenVariable
        /// A boolean switch: on if the flag is given or the variable says so; a variable that is
        /// not a boolean is refused even when the flag is given.
        case flagOrVariable
    }

    /// The environment variable (`CLOAKROOM_…`).
    let variable: String
    let precedence: Precedence
    /// The flag's text as given on the command line, nil when absent.
    let flag: @Sendable (Command) -> String?
    /// Reads the text (nil: neither given) into the configuration being built.
    let apply: @Sendable (String?, inout ServeDraft) throws -> Void

    /// A setting whose value is applied only when given (its default is the configuration's).
    init(_ variable: String, flag: @escaping @Sendable (Command) -> String?, apply: @escaping @Sendable (String, inout ServeDraft) throws -> Void) {
        self.variable = variable
        self.precedence = .flagThenVariable
        self.flag = flag
        self.apply = { text, draft in if let text { try apply(text, &draft) } }
    }

    /// A setting applied in every case, with `nil` when neither the flag nor the variable is given.
    init(
        _ variable: String,
        precedence: Precedence = .flagThenVariable,
        flag: @escaping @Sendable (Command) -> String?,
        always apply: @escaping @Sendable (String?, inout ServeDraft) throws -> Void
    ) {
        self.variable = variable
        self.precedence = precedence
        self.flag = flag
        self.apply = apply
    }
}

/// The configuration `serve` is building, and which timeouts the operator gave (a default gives
/// way to a contradicting value; a given value is refused).
struct ServeDraft: Sendable {
    var config = ServerConfiguration()
    var given = Serve.GivenTimes()
    /// The replication settings read so far (they count only with `--replication`).
    var replication = ReplicationSettings()
}

/// Applies a table of settings: flag, else environment variable, else default.
struct SettingReader: Sendable {
    let environment: [String: String]

    /// The text for one setting: the flag's, else the variable's (nil when neither is given).
    func text(flag: String?, variable: String) -> String? {
        flag ?? environment[variable]
    }

    /// The values of a repeatable flag, else the comma-separated variable's.
    func list(flag: [String], variable: String) -> [String] {
        guard flag.isEmpty else { return flag }
        return environment[variable]?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
    }

    /// Applies every setting of `table` to `draft`, in table order (so the first bad value is the
    /// one reported).
    func apply<Command>(_ table: [Setting<Command>], of command: Command, to draft: inout ServeDraft) throws {
        for setting in table {
            let flag = setting.flag(command)
            switch setting.precedence {
            case .flagThenVariable:
                try setting.apply(text(flag: flag, variable: setting.variable), &draft)
            case .flagOrVariable:
                let on = try Serve.boolean(setting.variable, environment) || flag != nil
                try setting.apply(on ? "1" : "0", &draft)
            }
        }
    }

    /// A positive duration (`90s`, `30m`, `12h`, `7d`), named `name` in the error.
    static func duration(_ text: String, _ name: String, allowZero: Bool = false) throws -> TimeInterval {
        guard let seconds = DurationText.seconds(text), seconds > 0 || (allowZero && seconds == 0) else {
            throw ConfigurationError("\(name) \(text) is not a duration: use seconds or a suffix, e.g. 90s, 30m, 12h (\(DurationText.limitText))")
        }
        return TimeInterval(seconds)
    }
}

extension SettingReader {
    /// The comma-separated items of a list setting, trimmed, empty ones dropped.
    static func items(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

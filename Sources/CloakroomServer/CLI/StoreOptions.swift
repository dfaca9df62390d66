import ArgumentParser
import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomSessions
import CloakroomTokens
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// Options every command shares: where the data lives and how much to log.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help:
            "Where sessions and sign-in counters live: sqlite:PATH, file:DIR, postgres://USER@HOST/DB, redis://HOST:PORT/DB (rediss:// for TLS, ?ca=FILE for a private CA), memory, or cookie (each session sealed into its cookie; counters, tokens and sign-out-everywhere epochs live with --accounts). Env CLOAKROOM_STORE. Default sqlite:./cloakroom.sqlite"
    )
    var store: String?

    @Option(
        name: .long,
        help:
            "Where accounts live: sqlite:PATH, postgres://USER@HOST/DB or memory. Env CLOAKROOM_ACCOUNTS. Default: the store itself if it can hold accounts, else sqlite:./cloakroom.sqlite"
    )
    var accounts: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical. Env CLOAKROOM_LOG_LEVEL. Default info")
    var logLevel: String?

    /// The store when neither `--store` nor `CLOAKROOM_STORE` is given.
    static let defaultStore = "sqlite:./cloakroom.sqlite"

    func location(environment: [String: String]) throws -> StoreLocation {
        try StoreLocation.configured(SettingReader(environment: environment).text(flag: store, variable: "CLOAKROOM_STORE") ?? Self.defaultStore)
    }

    func accountsLocation(environment: [String: String]) throws -> StoreLocation? {
        try SettingReader(environment: environment).text(flag: accounts, variable: "CLOAKROOM_ACCOUNTS").map { try StoreLocation.configured($0) }
    }

    func level(environment: [String: String]) throws -> Logger.Level {
        try Self.level(SettingReader(environment: environment).text(flag: logLevel, variable: "CLOAKROOM_LOG_LEVEL") ?? "info")
    }

    /// A log level by name, in any case.
    static func level(_ text: String) throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ConfigurationError("log level \(text) is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }

    func logger(environment: [String: String]) throws -> Logger {
        var logger = Logger.cloakroom()
        logger.logLevel = try level(environment: environment)
        return logger
    }
}

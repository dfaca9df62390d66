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

func withServices(_ options: StoreOptions, passwordHash: String? = nil, _ body: (AppServices) async throws -> Void) async throws {
    let environment = ProcessInfo.processInfo.environment
    var config = ServerConfiguration()
    var logger: Logger
    let backends: Backends
    do {
        config.store = try options.location(environment: environment)
        config.accounts = try options.accountsLocation(environment: environment)
        logger = try options.logger(environment: environment)
        let reader = SettingReader(environment: environment)
        if reader.text(flag: options.logLevel, variable: "CLOAKROOM_LOG_LEVEL") == nil { logger.logLevel = .warning }
        if let text = reader.text(flag: passwordHash, variable: "CLOAKROOM_PASSWORD_HASH") { config.passwordHash = try Serve.scrypt(text) }
        backends = try await Backends.open(config.store, accounts: config.accounts, logger: logger)
    } catch let error as ConfigurationError {
        throw ValidationError(error.description)
    }
    let services = AppServices(configuration: config, backends: backends, logger: logger)
    // Backend services (connection pools) run beside the command and stop with it.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in backends.services {
            group.addTask { try await service.run() }
        }
        do {
            try await body(services)
        } catch {
            try? await backends.close()
            group.cancelAll()
            throw error
        }
        try? await backends.close()
        group.cancelAll()
    }
}

/// The account named `name`; a `CommandFailure` (exit status 1) when there is none.
func requireAccount(_ name: String, _ services: AppServices) async throws -> Account {
    guard let account = try await services.backends.accounts.account(username: name) else {
        throw CommandFailure("no account named \(name)")
    }
    return account
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? String(text.prefix(width - 1)) + " " : text + String(repeating: " ", count: width - text.count)
}

func iso(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

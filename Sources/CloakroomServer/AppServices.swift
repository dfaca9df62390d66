import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomSessions
import Foundation
import Logging

/// What every route needs, built once per server.
struct AppServices: Sendable {
    let configuration: ServerConfiguration
    let backends: Backends
    let sessions: SessionManager
    let signIn: SignInService
    let clock: any CloakroomClock
    let logger: Logger

    init(configuration: ServerConfiguration, backends: Backends, clock: any CloakroomClock = SystemClock(), logger: Logger) {
        self.configuration = configuration
        self.backends = backends
        self.clock = clock
        self.logger = logger
        self.sessions = SessionManager(store: backends.sessions, configuration: configuration.sessions, clock: clock, logger: logger)
        self.signIn = SignInService(
            accounts: backends.accounts,
            hasher: PasswordHasher(parameters: configuration.passwordHash),
            throttle: LoginThrottle(store: backends.throttle),
            clock: clock,
            logger: logger)
    }

    /// The signed-in account of `session`, or nil (also nil when the account was deleted or disabled).
    func currentAccount(_ session: Session) async throws -> Account? {
        guard let userID = session.userID else { return nil }
        guard let account = try await backends.accounts.account(id: userID), !account.disabled else {
            try await sessions.destroy(session)
            return nil
        }
        return account
    }

    /// Disables (or re-enables) an account; disabling ends all its sessions.
    func setDisabled(_ account: Account, _ disabled: Bool) async throws -> Int {
        try await backends.accounts.setDisabled(id: account.id, disabled)
        return disabled ? try await sessions.revokeAll(ofUser: account.id) : 0
    }

    /// Deletes an account and ends all its sessions.
    func delete(_ account: Account) async throws -> Int {
        let ended = try await sessions.revokeAll(ofUser: account.id)
        _ = try await backends.accounts.delete(id: account.id)
        return ended
    }
}

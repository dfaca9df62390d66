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

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inspect and end sessions.", subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List live sessions (all, or one user's).")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Only this user's sessions") var user: String?

        func run() async throws {
            try await withServices(storeOptions) { services in
                var records: [SessionRecord] = []
                var names: [String: String] = [:]
                if let user {
                    let account = try await requireAccount(user, services)
                    records = try await services.sessions.sessions(ofUser: account.id)
                } else {
                    var after: String? = nil
                    while true {
                        let page = try await services.backends.iterableSessions().list(now: services.clock.now(), afterKey: after, limit: 500)
                        records += page.filter { services.sessions.isLive($0, at: services.clock.now()) }
                        guard let last = page.last, page.count == 500 else { break }
                        after = last.key
                    }
                }
                for account in try await services.backends.accounts.all() { names[account.id] = account.username }
                print(pad("ID", 18) + pad("USER", 20) + pad("CREATED", 22) + pad("LAST SEEN", 22) + pad("EXPIRES", 22) + pad("IP", 16) + "USER AGENT")
                for record in records {
                    let who = record.userID.map { names[$0] ?? $0 } ?? "(anonymous)"
                    print(
                        pad(record.handle, 18) + pad(who, 20) + pad(iso(record.createdAt), 22) + pad(iso(record.lastSeen), 22)
                            + pad(iso(services.sessions.expiry(of: record)), 22) + pad(record.ipAddress ?? "-", 16) + (record.userAgent ?? "-")
                    )
                }
                print("\(records.count) session(s)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End one session by its ID (as listed), every session and token of a user, or of everyone (--all)."
        )
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "Session ID as shown by `sessions list`") var id: String?
        @Option(help: "End every session of this user and revoke all their access and refresh tokens") var user: String?
        @Flag(help: "End every session of every user (anonymous ones too) and revoke every account's tokens (OWASP ASVS 7.4.5)")
        var all = false

        func validate() throws {
            if [id != nil, user != nil, all].filter({ $0 }).count != 1 {
                throw ValidationError("give one of a session ID, --user NAME or --all")
            }
        }

        func run() async throws {
            try await withServices(storeOptions) { services in
                if let user {
                    let account = try await requireAccount(user, services)
                    // Tokens too, as `users disable` does: every access token issued until now is
                    // refused (the epoch rises) and every refresh token is deleted.
                    let tokens = try await services.tokens.revokeEverything(forUser: account.id)
                    let count = try await services.sessions.revokeAll(ofUser: account.id)
                    print("ended \(count) session(s) and \(tokens) refresh token(s) of \(account.username)")
                } else if all {
                    var tokens = 0
                    for account in try await services.backends.accounts.all() {
                        tokens += try await services.tokens.revokeEverything(forUser: account.id)
                    }
                    if services.sessions.keepsSessionsInCookies {
                        // Sessions in cookies: advancing every user's epoch ends every cookie.
                        var users = 0
                        for account in try await services.backends.accounts.all() {
                            try await services.sessions.revokeAll(ofUser: account.id)
                            users += 1
                        }
                        print("ended every session (kept in cookies) of \(users) user(s) and \(tokens) refresh token(s)")
                        return
                    }
                    var ended = 0
                    while true {
                        // Deleting as it goes: each page starts again from the first key left.
                        let page = try await services.backends.iterableSessions().list(now: .distantPast, afterKey: nil, limit: 500)
                        for record in page { try await services.backends.sessions.delete(key: record.key) }
                        ended += page.count
                        if page.count < 500 { break }
                    }
                    print("ended \(ended) session(s) and \(tokens) refresh token(s) of every user")
                } else if let id {
                    guard let record = try await services.sessions.record(handle: id) else {
                        throw CommandFailure("no live session with ID \(id)")
                    }
                    try await services.backends.sessions.delete(key: record.key)
                    print("ended session \(id)")
                }
            }
        }
    }
}

// MARK: - CLI helpers

/// Opens the stores `options` name, runs `body` on them, and closes them.
///
/// A bad option value (store URL, log level, scrypt cost) is a usage error (`ValidationError`,
/// exit status 64). What `body` throws is a runtime failure: `CloakroomCommand.main()` prints it
/// as `error: …` with exit status 1 (an `IdentityError` by its client-safe message).

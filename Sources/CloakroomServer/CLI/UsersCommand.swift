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

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage accounts.",
        subcommands: [Add.self, List.self, SetPassword.self, Disable.self, Enable.self, Delete.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account; the password is read from stdin (or a prompt).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The username") var name: String
        @Option(help: "scrypt cost, as ln=15,r=8,p=3") var passwordHash: String?

        func run() async throws {
            let password = try PasswordPrompt.read(prompt: "Password for \(name): ")
            try await withServices(storeOptions, passwordHash: passwordHash) { services in
                let account = try await services.signIn.register(username: name, password: password)
                print("created \(account.username) (id \(account.id))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            try await withServices(storeOptions) { services in
                let accounts = try await services.backends.accounts.all()
                print(pad("USERNAME", 24) + pad("ID", 38) + pad("CREATED", 22) + "STATUS")
                for account in accounts {
                    print(
                        pad(account.username, 24) + pad(account.id, 38) + pad(iso(account.createdAt), 22) + (account.disabled ? "disabled" : "active")
                    )
                }
            }
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set a new password (read from stdin or a prompt); ends all the account's sessions and tokens and clears its sign-in lockout."
        )
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The username") var name: String
        @Option(help: "scrypt cost, as ln=15,r=8,p=3") var passwordHash: String?

        func run() async throws {
            let password = try PasswordPrompt.read(prompt: "New password for \(name): ")
            try await withServices(storeOptions, passwordHash: passwordHash) { services in
                let account = try await requireAccount(name, services)
                let ended = try await services.resetPassword(account, to: password)
                print("set a new password for \(account.username); ended \(ended) session(s) and every token")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account and end all its sessions.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await withServices(storeOptions) { services in
                let account = try await requireAccount(name, services)
                let ended = try await services.setDisabled(account, true)
                print("disabled \(account.username); ended \(ended) session(s)")
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-enable a disabled account.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await withServices(storeOptions) { services in
                let account = try await requireAccount(name, services)
                _ = try await services.setDisabled(account, false)
                print("enabled \(account.username)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an account and end all its sessions.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await withServices(storeOptions) { services in
                let account = try await requireAccount(name, services)
                let ended = try await services.delete(account)
                print("deleted \(account.username); ended \(ended) session(s)")
            }
        }
    }
}

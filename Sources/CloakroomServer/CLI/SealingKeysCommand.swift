import ArgumentParser
import CloakroomCore
import CloakroomTokens
import Foundation

extension Keys {
    /// `cloakroom keys sealing …`: the keys that seal sessions kept in cookies and preference cookies.
    struct Sealing: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the sealing keys (sessions kept in cookies, preference cookies) in the sealing key file.",
            discussion: """
                The sealing key file (--sealing-keys, default KEYS with -sealing before .json) is sealed \
                under the key-file secret and written 0600, like the key file. One key is current: it \
                seals. `next` keys and `previous` keys only open. A running server reloads the file \
                when it changes (checked every --key-reload-interval, 1s).

                To rotate across several nodes without signing anyone out: `add` a next key and copy \
                the file to every node; then `promote` it and copy it again. The old \
                key stays as previous, so cookies it sealed keep opening; `remove` it once they have \
                expired (the idle timeout for sessions, a year for preference cookies). On one node, \
                `rotate` does both steps at once. `remove` of a compromised key ends what it sealed at once.
                """,
            subcommands: [List.self, Add.self, Promote.self, Rotate.self, Remove.self]
        )

        /// Runs `body` with the sealing key file and its secret; errors become `error: …` and exit 1.
        static func run(_ options: KeyFileOptions, create: Bool = false, _ body: (URL, KeyEncryptionSecret) throws -> Void) async throws {
            try await KeyRingTool.run(options) { tool in
                let url = options.sealingKeysURL(environment: tool.environment)
                let secret = try options.secret(environment: tool.environment, create: create, logger: tool.logger)
                if create { _ = try SealingKeyFile.loadOrCreate(url, secret: secret) }
                guard FileManager.default.fileExists(atPath: url.path) else {
                    throw ConfigurationError("no sealing key file at \(url.path): start the server once or run `cloakroom keys sealing rotate`")
                }
                try body(url, secret)
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the sealing keys: ID, state (current, next, previous), creation time.")
            @OptionGroup var keyFile: KeyFileOptions

            func run() async throws {
                try await Sealing.run(keyFile) { url, secret in
                    let entries = try SealingKeyFile.list(url, secret: secret)
                    print(KeyRingTool.table(header: ["ID", "STATE", "CREATED"], rows: entries.map { [$0.id, $0.state, iso($0.created)] }))
                    print("\(entries.count) key(s) in \(url.path)")
                }
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Add a next key: it opens at once, and seals only once promoted (creates the file if there is none)."
            )
            @OptionGroup var keyFile: KeyFileOptions

            func run() async throws {
                try await Sealing.run(keyFile, create: true) { url, secret in
                    let id = try SealingKeyFile.add(url, secret: secret, activate: false)
                    print("added sealing key \(id) as next; once every node has this file, `cloakroom keys sealing promote \(id)`")
                }
            }
        }

        struct Promote: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Make a key current (it seals); the current one becomes previous.")
            @OptionGroup var keyFile: KeyFileOptions
            @Argument(help: "The key's ID, as `list` shows it.") var id: String

            func run() async throws {
                try await Sealing.run(keyFile) { url, secret in
                    try SealingKeyFile.promote(url, id: id, secret: secret)
                    print("sealing key \(id) is current; running servers seal with it once they reload the file")
                }
            }
        }

        struct Rotate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Add a new current key at once; the current one becomes previous (one node; creates the file if there is none)."
            )
            @OptionGroup var keyFile: KeyFileOptions

            func run() async throws {
                try await Sealing.run(keyFile, create: true) { url, secret in
                    let id = try SealingKeyFile.add(url, secret: secret, activate: true)
                    print("sealing key \(id) is current; a running server seals with it once it reloads the file")
                }
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove a key that is not current: what only it sealed stops opening once the servers reload the file."
            )
            @OptionGroup var keyFile: KeyFileOptions
            @Argument(help: "The key's ID, as `list` shows it.") var id: String

            func run() async throws {
                try await Sealing.run(keyFile) { url, secret in
                    try SealingKeyFile.remove(url, id: id, secret: secret)
                    print("removed sealing key \(id)")
                }
            }
        }
    }
}

import ArgumentParser
import CloakroomCore
import CloakroomTokens
import Foundation
import Logging

/// `cloakroom keys`: the token signing keys in the encrypted key file.
///
/// Each subcommand loads the ring with ``KeyFileOptions``, changes it, and saves it with
/// `TokenKeyRing.save` (mode 0600, sealed under the key-file secret); the running server reloads
/// the file when it changes. No subcommand prints private or symmetric key material.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the token signing keys in the key file.",
        discussion: """
            Every command reads the key file (--keys), changes it and writes it back (mode 0600, \
            encrypted under the key-file secret); a running server picks up the new file. No command \
            prints private key material.

            One key is active: it signs new tokens. `generate`, `rotate` and `import --activate` add \
            a key as the next key: published in the JWKS at once, it signs only from its activation \
            time (--activate-in, default 6m: longer than verifiers cache the JWKS, 5m, plus the time \
            servers take to load the file), when every server switches by its own clock. The key \
            that was active then retires: it stops signing but keeps verifying until every token it \
            signed has expired (activation + --max-token-lifetime + --leeway). `--now` activates at \
            once, for emergencies: verifiers that cached the JWKS may refuse the new key's tokens \
            for up to 5 minutes. On a ring where no key signs, a new key activates at once. \
            `rotate` keeps the algorithm; `generate` takes --algorithm. `prune` drops retired keys \
            whose time is up. For a compromised key, `remove KID` refuses its tokens at once.
            """,
        subcommands: [List.self, Generate.self, Rotate.self, Retire.self, Remove.self, Prune.self, Import.self, JWKS.self, Sealing.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the keys: kid, algorithm, state (active, next, retired, external), creation time, whether the JWKS publishes it."
        )
        @OptionGroup var keyFile: KeyFileOptions

        func run() async throws {
            try await KeyRingTool.run(keyFile) { tool in
                let (ring, _, _) = try await tool.open()
                let now = Date()
                let infos = await ring.list()
                let published = Set(KeyRingTool.kids(inJWKS: await ring.jwks()))
                let rows = infos.map { info in
                    [
                        info.kid, info.algorithm.name, KeyRingTool.state(info, now: now), iso(info.createdAt),
                        published.contains(info.kid) ? "yes" : "no",
                    ]
                }
                print(KeyRingTool.table(header: ["KID", "ALGORITHM", "STATE", "CREATED", "IN JWKS"], rows: rows))
                let active = infos.filter { $0.signs(at: now) }.count
                var summary = "\(infos.count) key(s), \(active) active"
                if let next = await ring.nextKey(), case .next(let activation) = next.state {
                    summary += ", next \(next.kid) activates at \(iso(activation))"
                } else if active == 0 {
                    summary += ": the server cannot issue tokens; run `cloakroom keys generate`"
                }
                print(summary)
            }
        }
    }

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new key as the next key: published now, it signs from --activate-in (default 6m); the active key then retires.",
            discussion:
                "Creates the key file (and, by default, its secret file) if there is none; on a ring where no key signs, the new key activates at once."
        )
        @OptionGroup var keyFile: KeyFileOptions
        @OptionGroup var grace: RetirementOptions
        @OptionGroup var activation: ActivationOptions
        @Option(
            help:
                "Algorithm of the new key: \(TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ", ")). Default: --token-algorithm / CLOAKROOM_TOKEN_ALGORITHM, else EdDSA"
        )
        var algorithm: String?

        func validate() throws {
            if let algorithm { _ = try KeyRingTool.signingAlgorithm(algorithm) }
            try grace.validate()
            try activation.validate()
        }

        func run() async throws {
            try await KeyRingTool.run(keyFile, grace: grace) { tool in
                let (ring, url, secret) = try await tool.openOrEmpty()
                let chosen = try algorithm.map(KeyRingTool.signingAlgorithm) ?? keyFile.algorithm(environment: tool.environment)
                let before = await ring.list()
                let info = try await ring.generate(chosen, activateIn: activation.delay)
                try await tool.save(ring, url, secret)
                await tool.printScheduled("generated \(info.kid) (\(info.algorithm.name)):", info, before: before, ring: ring, activation: activation)
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Publish a new key of the same algorithm now; it replaces the active key at --activate-in (default 6m), and the old key retires (keeps verifying its tokens until they expire).",
            discussion: """
                Every server already holds the new key (they load the key file within a second) and \
                switches to it at the activation time by its own clock; verifiers that cache the JWKS \
                fetch it before then. --now signs with the new key at once (after a compromise): \
                verifiers that cached the JWKS may refuse its tokens for up to 5 minutes. On a ring \
                without an active key, the new key has --token-algorithm (default EdDSA) and activates \
                at once. A next key already waiting is replaced (it never signed). Creates the key file \
                if there is none.
                """
        )
        @OptionGroup var keyFile: KeyFileOptions
        @OptionGroup var grace: RetirementOptions
        @OptionGroup var activation: ActivationOptions

        func validate() throws {
            try grace.validate()
            try activation.validate()
        }

        func run() async throws {
            try await KeyRingTool.run(keyFile, grace: grace) { tool in
                let (ring, url, secret) = try await tool.openOrEmpty()
                let before = await ring.list()
                let info = try await ring.rotate(activateIn: activation.delay)
                try await tool.save(ring, url, secret)
                await tool.printScheduled(
                    "rotated: \(info.kid) (\(info.algorithm.name)) is",
                    info,
                    before: before,
                    ring: ring,
                    activation: activation
                )
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Stop a key signing; it keeps verifying until every token it signed has expired (now + 30s for servers to load the file + --max-token-lifetime + --leeway).",
            discussion:
                "Retiring the active key leaves the server without a signing key until the next key activates, or `keys generate` or `keys rotate`; to replace the active key, use `keys rotate`. Retiring the next key cancels the switch: the active key signs on. Another issuer's (external) key is removed, not retired."
        )
        @OptionGroup var keyFile: KeyFileOptions
        @OptionGroup var grace: RetirementOptions
        @Argument(help: "The key's kid, as `keys list` shows it (a kid that begins with - goes after --, e.g. `retire -- -Xy…`)") var kid: String

        func validate() throws { try grace.validate() }

        func run() async throws {
            try await KeyRingTool.run(keyFile, grace: grace) { tool in
                let (ring, url, secret) = try await tool.open()
                let wasActive = await ring.activeKey()?.kid == kid
                let info = try await ring.retire(kid: kid)
                try await tool.save(ring, url, secret)
                print("retired \(info.kid): \(KeyRingTool.state(info, now: Date()))")
                if wasActive { await KeyRingTool.warnNoActiveKey(ring) }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a key at once: every token it signed is refused from now on (for a compromised key)."
        )
        @OptionGroup var keyFile: KeyFileOptions
        @Argument(help: "The key's kid, as `keys list` shows it (a kid that begins with - goes after --, e.g. `retire -- -Xy…`)") var kid: String

        func run() async throws {
            try await KeyRingTool.run(keyFile) { tool in
                let (ring, url, secret) = try await tool.open()
                let wasActive = await ring.activeKey()?.kid == kid
                let info = try await ring.remove(kid: kid)
                try await tool.save(ring, url, secret)
                print("removed \(info.kid) (\(info.algorithm.name)): tokens it signed are refused from now on")
                if wasActive { await KeyRingTool.warnNoActiveKey(ring) }
            }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop retired keys whose verification period has ended.")
        @OptionGroup var keyFile: KeyFileOptions

        func run() async throws {
            try await KeyRingTool.run(keyFile) { tool in
                let (ring, url, secret) = try await tool.open()
                let pruned = await ring.prune()
                if !pruned.isEmpty { try await tool.save(ring, url, secret) }
                print("pruned \(pruned.count) key(s)\(pruned.isEmpty ? "" : ": " + pruned.map(\.kid).joined(separator: ", "))")
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring an existing key (a JWK file) into the ring: with --activate as the signing key, else to verify only.",
            discussion: """
                With --activate, FILE holds one private JWK (OKP Ed25519, EC P-256 or P-384, RSA of at \
                least 2048 bits, or oct of at least 32/48/64 bytes for HS256/384/512); it becomes the next \
                signing key as with `rotate`: published in the JWKS at once unless symmetric, it signs \
                from --activate-in (default 6m; --now at once; at once on a ring where no key signs) and \
                the previously active key then retires. The key is stored encrypted in the key file; FILE \
                still holds it in plaintext: delete it or lock it away.

                Without --activate, FILE holds another issuer's public key(s) (a JWK or JWK Set; private \
                members are dropped): they verify tokens naming their kid, never sign, and are not published \
                (state external).

                RSA and oct keys without an alg member need --algorithm. A key without kid gets a random one.
                """
        )
        @OptionGroup var keyFile: KeyFileOptions
        @OptionGroup var grace: RetirementOptions
        @OptionGroup var activation: ActivationOptions
        @Flag(help: "Make the imported private key the signing key (from --activate-in, or --now)") var activate = false
        @Option(help: "Algorithm for a key without alg (needed for RSA and oct): \(TokenAlgorithm.allCases.map(\.name).joined(separator: ", "))")
        var algorithm: String?
        @Argument(help: "JWK file, or - for stdin") var file: String

        func validate() throws {
            if let algorithm { _ = try KeyRingTool.anyAlgorithm(algorithm) }
            try grace.validate()
            try activation.validate()
            if !activate, activation.isGiven {
                throw ValidationError("--activate-in and --now schedule a signing key: they go with --activate")
            }
        }

        func run() async throws {
            let data: Data
            do {
                data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw KeyRingTool.failure("cannot read \(file): \((error as NSError).localizedDescription)")
            }
            let requested = try algorithm.map(KeyRingTool.anyAlgorithm)
            try await KeyRingTool.run(keyFile, grace: grace) { tool in
                if activate {
                    let (ring, url, secret) = try await tool.openOrEmpty()
                    let before = await ring.list()
                    let info = try await ring.importSigningKey(jwkJSON: data, algorithm: requested, activateIn: activation.delay)
                    try await tool.save(ring, url, secret)
                    await tool.printScheduled(
                        "imported \(info.kid) (\(info.algorithm.name)):",
                        info,
                        before: before,
                        ring: ring,
                        activation: activation
                    )
                    if file != "-" {
                        print("the key is now stored encrypted in \(url.path); \(file) still holds it in plaintext: delete it or lock it away")
                    }
                } else {
                    let (ring, url, secret) = try await tool.open()
                    let infos = try await ring.importVerificationKeys(jwkJSON: data, algorithm: requested)
                    try await tool.save(ring, url, secret)
                    for info in infos {
                        print(
                            "imported \(info.kid) (\(info.algorithm.name)) to verify only: it never signs and is not published (private members, if any, were dropped)"
                        )
                    }
                }
            }
        }
    }

    struct JWKS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "jwks",
            abstract:
                "Print the public JWK Set: the ring's own asymmetric keys that verify now, the next key included (never private or symmetric keys)."
        )
        @OptionGroup var keyFile: KeyFileOptions

        func run() async throws {
            try await KeyRingTool.run(keyFile) { tool in
                let (ring, _, _) = try await tool.open()
                let jwks = await ring.jwks()
                print(jwks)
                let symmetric = await ring.list().filter { $0.algorithm.isSymmetric && $0.state != .external }
                if !symmetric.isEmpty {
                    KeyRingTool.standardError(
                        "note: \(symmetric.count) HMAC key(s) are not in the JWK Set: a symmetric key is a shared secret and is never published"
                    )
                }
            }
        }
    }
}

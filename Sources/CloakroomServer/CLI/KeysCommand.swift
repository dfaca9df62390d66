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
        subcommands: [List.self, Generate.self, Rotate.self, Retire.self, Remove.self, Prune.self, Import.self, JWKS.self]
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

/// How long a key retired by a command keeps verifying after it stops signing: the ring's
/// `maxTokenLifetime + leeway`, read from the same settings as `serve` so the CLI and the server
/// agree.
struct RetirementOptions: ParsableArguments {
    @Option(
        help:
            "Longest lifetime of the tokens the server issues; a retired key keeps verifying this long plus --leeway. Env CLOAKROOM_ACCESS_TOKEN_LIFETIME (as for serve). Default 10m"
    )
    var maxTokenLifetime: String?
    @Option(
        help: "The verifiers' clock-skew leeway, added to a retired key's verification period. Env CLOAKROOM_TOKEN_LEEWAY (as for serve). Default 30s"
    )
    var leeway: String?

    func validate() throws {
        _ = try values(environment: ProcessInfo.processInfo.environment)
    }

    func values(environment: [String: String]) throws -> (lifetime: TimeInterval, leeway: TimeInterval) {
        let reader = SettingReader(environment: environment)
        let lifetimeText = reader.text(flag: maxTokenLifetime, variable: "CLOAKROOM_ACCESS_TOKEN_LIFETIME") ?? "10m"
        guard let lifetime = DurationText.seconds(lifetimeText), lifetime > 0 else {
            throw ValidationError(
                "max token lifetime \(lifetimeText) is not a duration: use seconds or a suffix, e.g. 600, 10m (\(DurationText.limitText))"
            )
        }
        let leewayText = reader.text(flag: leeway, variable: "CLOAKROOM_TOKEN_LEEWAY") ?? "30s"
        guard let leewaySeconds = DurationText.seconds(leewayText) else {
            throw ValidationError("leeway \(leewayText) is not a duration: use seconds or a suffix, e.g. 30s (\(DurationText.limitText))")
        }
        return (TimeInterval(lifetime), TimeInterval(leewaySeconds))
    }
}

/// When a key added by `generate`, `rotate` or `import --activate` starts signing.
///
/// By default 6 minutes after the command: every verifier that caches the JWK Set (`max-age`
/// 5 minutes) has fetched it with the new key by then, and every server has loaded the key file.
struct ActivationOptions: ParsableArguments {
    @Option(
        help:
            "How long the new key is published before it signs, e.g. 6m, 90s. Below 5m30s, verifiers that cache the JWKS (max-age 5m) may refuse its first tokens. Default 6m"
    )
    var activateIn: String?
    @Flag(
        help:
            "Sign with the new key at once (emergency, e.g. after a compromise): verifiers that cached the JWKS may refuse new tokens for up to 5 minutes"
    )
    var now = false

    /// True when either option was given.
    var isGiven: Bool { activateIn != nil || now }

    func validate() throws {
        if now, activateIn != nil {
            throw ValidationError("--now and --activate-in contradict each other: give one")
        }
        if let activateIn, DurationText.seconds(activateIn) == nil {
            throw ValidationError(
                "activation delay \(activateIn) is not a duration: use seconds or a suffix, e.g. 360, 6m (\(DurationText.limitText))"
            )
        }
    }

    /// Seconds until the new key signs: 0 with --now, else --activate-in, else the ring's default (6 minutes).
    var delay: TimeInterval {
        if now { return 0 }
        return activateIn.flatMap(DurationText.seconds).map(TimeInterval.init) ?? TokenKeyRing.Configuration().activationDelay
    }

    /// The shortest delay after which no verifier caching the JWK Set meets an unknown kid.
    static var safeDelay: TimeInterval {
        TokenKeyRing.jwksMaxAge + TokenKeyRing.Configuration().keyFilePickup
    }
}

/// Opening, saving and printing shared by the `keys` subcommands.
struct KeyRingTool {
    let options: KeyFileOptions
    let lifetime: TimeInterval
    let leeway: TimeInterval
    let environment: [String: String]
    let logger: Logger

    /// Runs `body`, turning key and configuration errors into `error: …` on stderr and exit status 1.
    static func run(_ options: KeyFileOptions, grace: RetirementOptions? = nil, _ body: (KeyRingTool) async throws -> Void) async throws {
        var logger = Logger(label: "cloakroom")
        logger.logLevel = .notice
        let environment = ProcessInfo.processInfo.environment
        let values = try grace?.values(environment: environment) ?? (lifetime: 600, leeway: 30)
        let tool = KeyRingTool(options: options, lifetime: values.lifetime, leeway: values.leeway, environment: environment, logger: logger)
        do {
            try await body(tool)
        } catch let error as TokenKeyError {
            throw failure("\(error.code.rawValue): \(error.message)")
        } catch let error as ConfigurationError {
            throw failure(error.description)
        }
    }

    /// Prints `error: message` to stderr; the caller throws the returned exit code (1).
    static func failure(_ message: String) -> ExitCode {
        standardError("error: \(message)")
        return ExitCode(1)
    }

    static func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Warns when no key signs now (after `retire` or `remove` of the active key).
    static func warnNoActiveKey(_ ring: TokenKeyRing) async {
        guard await ring.activeKey() == nil else { return }
        if let next = await ring.nextKey(), case .next(let activation) = next.state {
            standardError(
                "warning: the ring has no active key now: the server cannot issue tokens until \(next.kid) activates at \(iso(activation)), or `cloakroom keys rotate --now`"
            )
        } else {
            standardError(
                "warning: the ring has no active key now: the server cannot issue tokens until `cloakroom keys generate` or `cloakroom keys rotate`"
            )
        }
    }

    /// The ring in the existing key file.
    func open() async throws -> (TokenKeyRing, URL, KeyEncryptionSecret) {
        let opened = try await options.open(environment: environment, create: false, maxTokenLifetime: lifetime, leeway: leeway, logger: logger)
        return (opened.ring, opened.url, opened.secret)
    }

    /// The ring in the key file, or an empty ring (and, by default, a new secret file) when there
    /// is no key file yet; saving creates it.
    func openOrEmpty() async throws -> (TokenKeyRing, URL, KeyEncryptionSecret) {
        let url = options.keysURL(environment: environment)
        guard !FileManager.default.fileExists(atPath: url.path) else { return try await open() }
        let configuration = TokenKeyRing.Configuration(
            algorithm: try options.algorithm(environment: environment),
            maxTokenLifetime: lifetime,
            leeway: leeway
        )
        let secret = try options.secret(environment: environment, create: true, logger: logger)
        return (TokenKeyRing(configuration: configuration, logger: logger), url, secret)
    }

    func save(_ ring: TokenKeyRing, _ url: URL, _ secret: KeyEncryptionSecret) async throws {
        do {
            try await ring.save(to: url, secret: secret)
        } catch {
            throw ConfigurationError("cannot write the key file \(url.path): \(error.message)")
        }
    }

    /// Prints what a new key (`info`, just added to `ring`) does and when, what became of the
    /// keys that signed in `before`, and any next key it replaced; warns on stderr when verifiers
    /// that cache the JWKS may refuse its first tokens.
    func printScheduled(_ lead: String, _ info: TokenKeyInfo, before: [TokenKeyInfo], ring: TokenKeyRing, activation: ActivationOptions) async {
        let now = Date()
        let after = await ring.list()
        let remaining = Set(after.map(\.kid))
        switch info.state {
        case .next(let at):
            print("\(lead) next: published in the JWKS now, signs new tokens from \(iso(at)) (in \(Self.duration(at.timeIntervalSince(now))))")
        default:
            print("\(lead) active, signs new tokens from now on")
        }
        for old in before where old.state.isNext && !remaining.contains(old.kid) {
            print("replaced next key \(old.kid) (\(old.algorithm.name)): it never signed")
        }
        let signedBefore = Set(before.filter { $0.signs(at: now) }.map(\.kid))
        for old in after where signedBefore.contains(old.kid) && old.kid != info.kid {
            switch old.state {
            case .retiring(let end, let until):
                print("\(old.kid) (\(old.algorithm.name)) signs until \(iso(end)), then retires: verifiable until \(iso(until))")
            default:
                print("retired \(old.kid) (\(old.algorithm.name)): \(Self.state(old, now: now))")
            }
        }
        guard !signedBefore.isEmpty, !info.algorithm.isSymmetric else { return }
        if case .active = info.state {
            Self.standardError(
                "warning: \(info.kid) signs at once: verifiers that cached the JWKS before now may refuse its tokens for up to \(Int(TokenKeyRing.jwksMaxAge / 60)) minutes (the JWKS max-age); if the old key was compromised, `cloakroom keys remove KID` refuses its tokens at once"
            )
        } else if activation.delay < ActivationOptions.safeDelay {
            Self.standardError(
                "note: activating in \(Self.duration(activation.delay)): verifiers that cache the JWKS for its max-age (\(Self.duration(TokenKeyRing.jwksMaxAge))) may refuse the first tokens of \(info.kid); the default, 6m, leaves them time to fetch it"
            )
        }
    }

    /// A key's state for an operator.
    static func state(_ info: TokenKeyInfo, now: Date) -> String {
        switch info.state.resolved(at: now) {
        case .active: "active"
        case .next(let activation): "next (activates at \(iso(activation)))"
        case .retiring(let end, let until): "active until \(iso(end)), then retired (verifiable until \(iso(until)))"
        case .retired(let until) where until > now: "retired (verifiable until \(iso(until)))"
        case .retired(let until): "retired, stopped verifying \(iso(until)) (prune drops it)"
        case .external: "external (verify only)"
        }
    }

    /// Seconds as an operator reads them: `4s`, `6m`, `5m30s`, `2h`.
    static func duration(_ seconds: TimeInterval) -> String {
        let total = max(0, Int(seconds.rounded()))
        if total < 60 { return "\(total)s" }
        if total < 3600 { return total % 60 == 0 ? "\(total / 60)m" : "\(total / 60)m\(total % 60)s" }
        return total % 3600 == 0 ? "\(total / 3600)h" : "\(total / 3600)h\((total % 3600) / 60)m"
    }

    static func signingAlgorithm(_ text: String) throws -> TokenAlgorithm {
        let choices = TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ", ")
        guard let algorithm = TokenAlgorithm.named(text) else {
            throw ValidationError("algorithm \(text) is not one of \(choices)")
        }
        guard algorithm.canSign else {
            throw ValidationError("\(algorithm.name) verifies imported keys only; new keys are one of \(choices)")
        }
        return algorithm
    }

    static func anyAlgorithm(_ text: String) throws -> TokenAlgorithm {
        guard let algorithm = TokenAlgorithm.named(text) else {
            throw ValidationError("algorithm \(text) is not one of \(TokenAlgorithm.allCases.map(\.name).joined(separator: ", "))")
        }
        return algorithm
    }

    static func kids(inJWKS json: String) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let keys = object["keys"] as? [[String: Any]]
        else { return [] }
        return keys.compactMap { $0["kid"] as? String }
    }

    /// Left-aligned columns as wide as their widest cell (kids are never cut).
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1 ? row[column] : row[column].padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }
}

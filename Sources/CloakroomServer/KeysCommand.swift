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

            One key is active: it signs new tokens. `generate` and `rotate` both add a new key and make \
            it active at once; the key that was active retires: it stops signing but keeps verifying \
            until every token it signed has expired (now + --max-token-lifetime + --leeway). \
            `rotate` keeps the algorithm of the active key; `generate` takes --algorithm. `prune` \
            drops retired keys whose time is up. For a compromised key, `remove KID` refuses its \
            tokens at once.
            """,
        subcommands: [List.self, Generate.self, Rotate.self, Retire.self, Remove.self, Prune.self, Import.self, JWKS.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys: kid, algorithm, state, creation time, whether the JWKS publishes it.")
        @OptionGroup var keyFile: KeyFileOptions

        func run() async throws {
            try await KeyRingTool.run(keyFile) { tool in
                let (ring, _, _) = try await tool.open()
                let now = Date()
                let infos = await ring.list()
                let published = Set(KeyRingTool.kids(inJWKS: await ring.jwks()))
                let rows = infos.map { info in
                    [info.kid, info.algorithm.name, KeyRingTool.state(info, now: now), iso(info.createdAt), published.contains(info.kid) ? "yes" : "no"]
                }
                print(KeyRingTool.table(header: ["KID", "ALGORITHM", "STATE", "CREATED", "IN JWKS"], rows: rows))
                let active = infos.filter { $0.state == .active }.count
                print("\(infos.count) key(s), \(active) active\(active == 0 ? ": the server cannot issue tokens; run `cloakroom keys generate`" : "")")
            }
        }
    }

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new key and make it active at once; the active key retires (keeps verifying its tokens until they expire).",
            discussion: "Creates the key file (and, by default, its secret file) if there is none.")
        @OptionGroup var keyFile: KeyFileOptions
        @OptionGroup var grace: RetirementOptions
        @Option(help: "Algorithm of the new key: \(TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ", ")). Default: --token-algorithm / CLOAKROOM_TOKEN_ALGORITHM, else EdDSA")
        var algorithm: String?

        func validate() throws {
            if let algorithm { _ = try KeyRingTool.signingAlgorithm(algorithm) }
            try grace.validate()
        }

        func run() async throws {
            try await KeyRingTool.run(keyFile, grace: grace) { tool in
                let (ring, url, secret) = try await tool.openOrEmpty()
                let chosen = try algorithm.map(KeyRingTool.signingAlgorithm) ?? keyFile.algorithm(environment: tool.environment)
                let before = await ring.list()
                let info = try await ring.generate(chosen)
                try await tool.save(ring, url, secret)
                print("generated \(info.kid) (\(info.algorithm.name)): active, signs new tokens from now on")
                await tool.printRetired(before: before, ring: ring)
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the active key with a new one of the same algorithm; the old key retires (keeps verifying its tokens until they expire).",
            discussion: "On a ring without an active key, the new key has --token-algorithm (default EdDSA). Creates the key file if there is none.")
        @OptionGroup var keyFile: KeyFileOptions
        @OptionGroup var grace: RetirementOptions

        func validate() throws { try grace.validate() }

        func run() async throws {
            try await KeyRingTool.run(keyFile, grace: grace) { tool in
                let (ring, url, secret) = try await tool.openOrEmpty()
                let before = await ring.list()
                let info = try await ring.rotate()
                try await tool.save(ring, url, secret)
                print("rotated: \(info.kid) (\(info.algorithm.name)) is active and signs new tokens from now on")
                await tool.printRetired(before: before, ring: ring)
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a key signing; it keeps verifying until now + --max-token-lifetime + --leeway.",
            discussion: "Retiring the active key leaves the server without a signing key until `keys generate` or `keys rotate`; to replace the active key, use `keys rotate`.")
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
                if wasActive { KeyRingTool.warnNoActiveKey() }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a key at once: every token it signed is refused from now on (for a compromised key).")
        @OptionGroup var keyFile: KeyFileOptions
        @Argument(help: "The key's kid, as `keys list` shows it (a kid that begins with - goes after --, e.g. `retire -- -Xy…`)") var kid: String

        func run() async throws {
            try await KeyRingTool.run(keyFile) { tool in
                let (ring, url, secret) = try await tool.open()
                let wasActive = await ring.activeKey()?.kid == kid
                let info = try await ring.remove(kid: kid)
                try await tool.save(ring, url, secret)
                print("removed \(info.kid) (\(info.algorithm.name)): tokens it signed are refused from now on")
                if wasActive { KeyRingTool.warnNoActiveKey() }
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
                least 2048 bits, or oct of at least 32/48/64 bytes for HS256/384/512); it becomes the active \
                signing key, published in the JWKS unless symmetric, and the previously active key retires \
                as with `rotate`. The key is stored encrypted in the key file; FILE still holds it in \
                plaintext: delete it or lock it away.

                Without --activate, FILE holds another issuer's public key(s) (a JWK or JWK Set; private \
                members are dropped): they verify tokens naming their kid, never sign, and are not published \
                (state external).

                RSA and oct keys without an alg member need --algorithm. A key without kid gets a random one.
                """)
        @OptionGroup var keyFile: KeyFileOptions
        @OptionGroup var grace: RetirementOptions
        @Flag(help: "Make the imported private key the active signing key") var activate = false
        @Option(help: "Algorithm for a key without alg (needed for RSA and oct): \(TokenAlgorithm.allCases.map(\.name).joined(separator: ", "))")
        var algorithm: String?
        @Argument(help: "JWK file, or - for stdin") var file: String

        func validate() throws {
            if let algorithm { _ = try KeyRingTool.anyAlgorithm(algorithm) }
            try grace.validate()
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
                    let info = try await ring.importSigningKey(jwkJSON: data, algorithm: requested)
                    try await tool.save(ring, url, secret)
                    print("imported \(info.kid) (\(info.algorithm.name)): active, signs new tokens from now on")
                    await tool.printRetired(before: before, ring: ring)
                    if file != "-" {
                        print("the key is now stored encrypted in \(url.path); \(file) still holds it in plaintext: delete it or lock it away")
                    }
                } else {
                    let (ring, url, secret) = try await tool.open()
                    let infos = try await ring.importVerificationKeys(jwkJSON: data, algorithm: requested)
                    try await tool.save(ring, url, secret)
                    for info in infos {
                        print("imported \(info.kid) (\(info.algorithm.name)) to verify only: it never signs and is not published (private members, if any, were dropped)")
                    }
                }
            }
        }
    }

    struct JWKS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "jwks",
            abstract: "Print the public JWK Set: the ring's own asymmetric keys that verify now (never private or symmetric keys).")
        @OptionGroup var keyFile: KeyFileOptions

        func run() async throws {
            try await KeyRingTool.run(keyFile) { tool in
                let (ring, _, _) = try await tool.open()
                let jwks = await ring.jwks()
                print(jwks)
                let symmetric = await ring.list().filter { $0.algorithm.isSymmetric && $0.state != .external }
                if !symmetric.isEmpty {
                    KeyRingTool.standardError("note: \(symmetric.count) HMAC key(s) are not in the JWK Set: a symmetric key is a shared secret and is never published")
                }
            }
        }
    }
}

/// How long a key retired by a command keeps verifying: the ring's `maxTokenLifetime + leeway`,
/// read from the same settings as `serve` so the CLI and the server agree.
struct RetirementOptions: ParsableArguments {
    @Option(help: "Longest lifetime of the tokens the server issues; a retired key keeps verifying this long plus --leeway. Env CLOAKROOM_ACCESS_TOKEN_LIFETIME (as for serve). Default 10m")
    var maxTokenLifetime: String?
    @Option(help: "The verifiers' clock-skew leeway, added to a retired key's verification period. Env CLOAKROOM_TOKEN_LEEWAY (as for serve). Default 30s")
    var leeway: String?

    func validate() throws {
        _ = try values(environment: ProcessInfo.processInfo.environment)
    }

    func values(environment: [String: String]) throws -> (lifetime: TimeInterval, leeway: TimeInterval) {
        let lifetimeText = maxTokenLifetime ?? environment["CLOAKROOM_ACCESS_TOKEN_LIFETIME"] ?? "10m"
        guard let lifetime = DurationText.seconds(lifetimeText), lifetime > 0 else {
            throw ValidationError("max token lifetime \(lifetimeText) is not a duration: use seconds or a suffix, e.g. 600, 10m")
        }
        let leewayText = leeway ?? environment["CLOAKROOM_TOKEN_LEEWAY"] ?? "30s"
        guard let leewaySeconds = DurationText.seconds(leewayText) else {
            throw ValidationError("leeway \(leewayText) is not a duration: use seconds or a suffix, e.g. 30s")
        }
        return (TimeInterval(lifetime), TimeInterval(leewaySeconds))
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

    static func warnNoActiveKey() {
        standardError("warning: the ring has no active key now: the server cannot issue tokens until `cloakroom keys generate` or `cloakroom keys rotate`")
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
            algorithm: try options.algorithm(environment: environment), maxTokenLifetime: lifetime, leeway: leeway)
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

    /// Prints the keys that were active in `before` and are retired now.
    func printRetired(before: [TokenKeyInfo], ring: TokenKeyRing) async {
        let wasActive = Set(before.filter { $0.state == .active }.map(\.kid))
        for info in await ring.list() where wasActive.contains(info.kid) && info.state != .active {
            print("retired \(info.kid) (\(info.algorithm.name)): \(Self.state(info, now: Date()))")
        }
    }

    /// A key's state for an operator.
    static func state(_ info: TokenKeyInfo, now: Date) -> String {
        switch info.state {
        case .active: "active"
        case .retired(let until) where until > now: "retired, verifies until \(iso(until))"
        case .retired(let until): "retired, stopped verifying \(iso(until)) (prune drops it)"
        case .external: "external (verify only)"
        }
    }

    static func signingAlgorithm(_ text: String) throws -> TokenAlgorithm {
        let algorithm = try anyAlgorithm(text)
        guard algorithm.canSign else {
            throw ValidationError("\(algorithm.name) verifies imported keys only; new keys are one of \(TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ", "))")
        }
        return algorithm
    }

    static func anyAlgorithm(_ text: String) throws -> TokenAlgorithm {
        guard let algorithm = TokenAlgorithm.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) else {
            throw ValidationError("algorithm \(text) is not one of \(TokenAlgorithm.allCases.map(\.name).joined(separator: ", "))")
        }
        return algorithm
    }

    static func kids(inJWKS json: String) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let keys = object["keys"] as? [[String: Any]] else { return [] }
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

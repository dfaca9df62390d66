import ArgumentParser
import CloakroomCore
import CloakroomTokens
import Foundation
import Logging

/// Opening, saving and printing shared by the `keys` subcommands.
struct KeyRingTool {
    let options: KeyFileOptions
    let lifetime: TimeInterval
    let leeway: TimeInterval
    let environment: [String: String]
    let logger: Logger

    /// Runs `body`, turning key and configuration errors into `error: …` on stderr and exit status 1.
    static func run(_ options: KeyFileOptions, grace: RetirementOptions? = nil, _ body: (KeyRingTool) async throws -> Void) async throws {
        var logger = Logger.cloakroom()
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

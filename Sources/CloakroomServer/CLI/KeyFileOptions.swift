import ArgumentParser
import CloakroomCore
import CloakroomTokens
import Foundation
import Logging

/// Where the token signing keys live and the secret their file is sealed under; shared by
/// `serve`, `keys` and `token`.
///
/// The secret comes from `CLOAKROOM_KEY_SECRET` (the secret itself), `--key-secret-file` /
/// `CLOAKROOM_KEY_SECRET_FILE`, or, when neither is given, the file `KEYS.secret` beside the key
/// file, created (mode 0600, 32 random bytes) on first use, so that `swift run cloakroom serve`
/// needs no set-up. Production should keep the secret apart from the key file. A secret file
/// that group or others may read is refused, as the key file is.
struct KeyFileOptions: ParsableArguments {
    @Option(name: .customLong("keys"), help: "Token signing key file (created on first start). Env CLOAKROOM_KEYS. Default ./cloakroom-keys.json")
    var keysPath: String?

    @Option(
        help:
            "File holding the secret the key file is encrypted under (at least 32 random bytes, e.g. from `openssl rand -base64 32`). Mode 0600 or 0400: refused if group or others may read it. Env CLOAKROOM_KEY_SECRET_FILE, or CLOAKROOM_KEY_SECRET with the secret itself. Default: KEYS.secret beside the key file, created 0600 on first use"
    )
    var keySecretFile: String?

    @Option(
        help:
            "Algorithm of newly generated keys: EdDSA, ES256, ES384, RS256, PS256, HS256, HS384, HS512. Env CLOAKROOM_TOKEN_ALGORITHM. Default EdDSA"
    )
    var tokenAlgorithm: String?

    @Option(
        help:
            "Sealing key file (sessions kept in cookies, preference cookies), sealed under the same secret as --keys (created on first start). Env CLOAKROOM_SEALING_KEYS_FILE. Default: KEYS with -sealing before .json. CLOAKROOM_SEALING_KEYS=ID:BASE64URL[,ID:BASE64URL…] (32-byte keys, the first sealing) is used instead of any file"
    )
    var sealingKeys: String?

    /// The sealing key file.
    func sealingKeysURL(environment: [String: String]) -> URL {
        if let path = SettingReader(environment: environment).text(flag: sealingKeys, variable: "CLOAKROOM_SEALING_KEYS_FILE") {
            return URL(fileURLWithPath: path)
        }
        let keys = keysURL(environment: environment).path
        let base = keys.hasSuffix(".json") ? String(keys.dropLast(5)) : keys
        return URL(fileURLWithPath: base + "-sealing.json")
    }

    /// The sealing keys: from `CLOAKROOM_SEALING_KEYS` when set (file nil), else the sealing key
    /// file (with `create`, made with one new key when missing).
    func sealingRing(environment: [String: String], secret: KeyEncryptionSecret, create: Bool) throws -> (ring: SealingKeyRing, file: URL?) {
        if let text = environment["CLOAKROOM_SEALING_KEYS"], sealingKeys == nil {
            do {
                return (try SealingKeyFile.ring(text: text), nil)
            } catch {
                throw ConfigurationError("CLOAKROOM_SEALING_KEYS: \(error.message)")
            }
        }
        let url = sealingKeysURL(environment: environment)
        do {
            if create { return (try SealingKeyFile.loadOrCreate(url, secret: secret), url) }
            guard let ring = try SealingKeyFile.load(url, secret: secret) else {
                throw ConfigurationError("no sealing key file at \(url.path): start the server once or run `cloakroom keys sealing rotate`")
            }
            return (ring, url)
        } catch let error as TokenKeyError {
            throw ConfigurationError("sealing key file \(url.path): \(error.message)")
        }
    }

    /// The key file.
    func keysURL(environment: [String: String]) -> URL {
        URL(fileURLWithPath: SettingReader(environment: environment).text(flag: keysPath, variable: "CLOAKROOM_KEYS") ?? "./cloakroom-keys.json")
    }

    /// The algorithm for new keys.
    func algorithm(environment: [String: String]) throws -> TokenAlgorithm {
        let text = SettingReader(environment: environment).text(flag: tokenAlgorithm, variable: "CLOAKROOM_TOKEN_ALGORITHM") ?? "EdDSA"
        let choices = TokenAlgorithm.signingAlgorithms.map(\.rawValue).joined(separator: ", ")
        guard let algorithm = TokenAlgorithm.named(text) else {
            throw ConfigurationError("token algorithm \(text) is not one of \(choices)")
        }
        guard algorithm.canSign else {
            throw ConfigurationError("token algorithm \(text) verifies imported keys only; new keys are one of \(choices)")
        }
        return algorithm
    }

    /// The key-file secret. With `create`, a missing default secret file is made.
    func secret(environment: [String: String], create: Bool, logger: Logger) throws -> KeyEncryptionSecret {
        if let text = environment["CLOAKROOM_KEY_SECRET"], keySecretFile == nil {
            do {
                return try KeyEncryptionSecret(text: text)
            } catch {
                throw ConfigurationError("CLOAKROOM_KEY_SECRET: \(error.message)")
            }
        }
        let explicit = SettingReader(environment: environment).text(flag: keySecretFile, variable: "CLOAKROOM_KEY_SECRET_FILE")
        let url = explicit.map { URL(fileURLWithPath: $0) } ?? URL(fileURLWithPath: keysURL(environment: environment).path + ".secret")
        if explicit == nil, create, !FileManager.default.fileExists(atPath: url.path) {
            try Self.createSecretFile(at: url)
            logger.notice(
                "created a key-file secret; in production set CLOAKROOM_KEY_SECRET or --key-secret-file and keep it apart from the key file",
                metadata: ["file": "\(url.path)"]
            )
        }
        do {
            return try KeyEncryptionSecret(contentsOf: url)
        } catch  where error.code == .weakSecret {
            throw ConfigurationError("key-file secret \(url.path): \(error.message)")
        } catch {
            throw ConfigurationError("key-file secret: \(error.message)")
        }
    }

    /// Loads the key ring, or (with `create`) makes a new one with one active key.
    func open(
        environment: [String: String],
        create: Bool,
        maxTokenLifetime: TimeInterval = 600,
        leeway: TimeInterval = 30,
        clock: any CloakroomClock = SystemClock(),
        logger: Logger
    ) async throws -> (ring: TokenKeyRing, url: URL, secret: KeyEncryptionSecret) {
        let url = keysURL(environment: environment)
        let configuration = TokenKeyRing.Configuration(
            algorithm: try algorithm(environment: environment),
            maxTokenLifetime: maxTokenLifetime,
            leeway: leeway
        )
        let exists = FileManager.default.fileExists(atPath: url.path)
        guard exists || create else {
            throw ConfigurationError("no key file at \(url.path): start the server once or run `cloakroom keys generate`")
        }
        let secret = try secret(environment: environment, create: create && !exists, logger: logger)
        do {
            let ring = try await TokenKeyRing.loadOrCreate(at: url, secret: secret, configuration: configuration, clock: clock, logger: logger)
            return (ring, url, secret)
        } catch {
            throw ConfigurationError("key file \(url.path): \(error.message)")
        }
    }

    /// Writes 32 random bytes, base64, to a new 0600 file.
    static func createSecretFile(at url: URL) throws {
        let text = SecureToken(byteCount: 32).text + "\n"
        guard FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot create the key-file secret \(url.path)")
        }
    }
}

import CCloakroomShims
import CloakroomCore
import Crypto
import Foundation

#if canImport(Glibc)
import CoreFoundation
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The key file: a small JSON envelope around the whole key set, sealed with AES-256-GCM under
/// a key-encryption key derived by HKDF-SHA256 from the caller's secret and a fresh random salt.
///
/// Sealing everything (not only the private keys) also authenticates the key list: whoever can
/// write the file but lacks the secret cannot slip in a public key of their own or revive a
/// retired one. The file is written with mode 0600 through an exclusive temporary file and
/// `rename(2)`, and refused on load if group or others have any permission bit.
enum KeyFile {
    static let format = "cloakroom-token-keys"
    static let version = 1
    static let associatedData = Array("cloakroom-token-keys/1".utf8)

    /// The plaintext wrapper.
    struct Envelope: Codable {
        var format: String
        var version: Int
        var kdf: String
        var cipher: String
        var salt: String
        var sealed: String
    }

    /// The sealed contents.
    struct Body: Codable {
        var keys: [StoredKey]
    }

    /// One key in the sealed contents.
    struct StoredKey: Codable {
        var kid: String
        var alg: TokenAlgorithm
        var created: Double
        /// `active` (with `sign_until` and `verify_until` when a next key replaces it), `next`
        /// (with `activate_at`), `retired` (with `verify_until`) or `external`.
        var state: String
        var verifyUntil: Double?
        /// When a `next` key starts signing (absent in files written before next keys existed).
        var activateAt: Double?
        /// When an `active` key stops signing, if a next key replaces it.
        var signUntil: Double?
        /// Base64url of the key's secret bytes (own keys).
        var secret: String?
        /// The public JWK (imported keys).
        var jwk: JSONWebKey?

        enum CodingKeys: String, CodingKey {
            case kid, alg, created, state, secret, jwk
            case verifyUntil = "verify_until"
            case activateAt = "activate_at"
            case signUntil = "sign_until"
        }
    }

    // MARK: Sealing

    static func sealBody(_ body: Body, secret: KeyEncryptionSecret) throws(TokenKeyError) -> Data {
        try seal(body, secret: secret, format: format, associatedData: associatedData)
    }

    static func openBody(_ data: Data, secret: KeyEncryptionSecret, path: String) throws(TokenKeyError) -> Body {
        try openSealed(data, as: Body.self, secret: secret, path: path, format: format, associatedData: associatedData, kind: "token key file")
    }

    /// `body` as JSON, sealed with AES-256-GCM under the secret's key-encryption key for a fresh
    /// salt, in the envelope naming `format` (version 1).
    static func seal<B: Encodable>(_ body: B, secret: KeyEncryptionSecret, format: String, associatedData: [UInt8]) throws(TokenKeyError) -> Data {
        let salt = randomBytes(32)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            let plaintext = try encoder.encode(body)
            let box = try AES.GCM.seal(plaintext, using: secret.keyEncryptionKey(salt: salt), authenticating: associatedData)
            guard let combined = box.combined else { throw TokenKeyError(.fileAccess, "AES-GCM produced no output") }
            let envelope = Envelope(
                format: format,
                version: version,
                kdf: "HKDF-SHA256",
                cipher: "AES-256-GCM",
                salt: Base64URL.encode(salt),
                sealed: Base64URL.encode(combined)
            )
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            return try encoder.encode(envelope)
        } catch let error as TokenKeyError {
            throw error
        } catch {
            throw TokenKeyError(.fileAccess, "the key set could not be encoded")
        }
    }

    /// The body an envelope of `format` holds, opened with the secret.
    static func openSealed<B: Decodable>(
        _ data: Data,
        as type: B.Type,
        secret: KeyEncryptionSecret,
        path: String,
        format: String,
        associatedData: [UInt8],
        kind: String
    ) throws(TokenKeyError) -> B {
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: data), envelope.format == format else {
            throw TokenKeyError(.corruptFile, "\(path) is not a Cloakroom \(kind)")
        }
        guard envelope.version == version, envelope.kdf == "HKDF-SHA256", envelope.cipher == "AES-256-GCM" else {
            throw TokenKeyError(.corruptFile, "\(path) has an unsupported key file version or cipher")
        }
        guard let salt = Base64URL.decode(envelope.salt), let sealed = Base64URL.decode(envelope.sealed),
            let box = try? AES.GCM.SealedBox(combined: sealed)
        else {
            throw TokenKeyError(.corruptFile, "\(path) is damaged")
        }
        guard let plaintext = try? AES.GCM.open(box, using: secret.keyEncryptionKey(salt: salt), authenticating: associatedData) else {
            throw TokenKeyError(.wrongSecret, "\(path) cannot be decrypted with this secret: the secret is wrong, or the file was altered")
        }
        guard let body = try? JSONDecoder().decode(B.self, from: plaintext) else {
            throw TokenKeyError(.corruptFile, "\(path) decrypts but its key list is damaged")
        }
        return body
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in generator.next() }
    }

    // MARK: Files

    /// Writes `data` to `url` with mode 0600: an exclusive (`O_CREAT|O_EXCL`) temporary file in
    /// the same directory, flushed, then renamed over the target.
    static func writeFile(_ data: Data, to url: URL) throws(TokenKeyError) {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporary = "\(directory)/.\(url.lastPathComponent).\(Base64URL.encode(randomBytes(9))).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw TokenKeyError(.fileAccess, "cannot create \(temporary): \(errorText())")
        }
        var written = 0
        let bytes = Array(data)
        var failure: String?
        if fchmod(descriptor, 0o600) != 0 { failure = errorText() }
        while failure == nil, written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                failure = errorText()
            } else {
                written += result
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = errorText() }
        if close(descriptor) != 0, failure == nil { failure = errorText() }
        if failure == nil, rename(temporary, path) != 0 { failure = errorText() }
        if let failure {
            unlink(temporary)
            throw TokenKeyError(.fileAccess, "cannot write \(path): \(failure)")
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC, 0)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            _ = close(directoryDescriptor)
        }
    }

    /// Reads `url`, refusing anything but a regular file with no group or other permission bits;
    /// `holding` names its contents in the refusal.
    static func readFile(from url: URL, holding contents: String = "the signing keys") throws(TokenKeyError) -> Data {
        let path = url.path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC, 0)
        guard descriptor >= 0 else {
            throw TokenKeyError(.fileAccess, "cannot open \(path): \(errorText())")
        }
        defer { _ = close(descriptor) }
        let statMode = cloakroom_fd_mode(descriptor)
        guard statMode >= 0 else {
            throw TokenKeyError(.fileAccess, "cannot stat \(path): \(errorText())")
        }
        let mode = UInt32(truncatingIfNeeded: statMode)
        guard mode & 0o170000 == 0o100000 else {
            throw TokenKeyError(.fileAccess, "\(path) is not a regular file")
        }
        guard mode & 0o077 == 0 else {
            let octal = String(mode & 0o777, radix: 8)
            throw TokenKeyError(
                .insecurePermissions,
                "\(path) has mode 0\(octal): group or others may access \(contents); run chmod 600 \(path)"
            )
        }
        var contents = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TokenKeyError(.fileAccess, "cannot read \(path): \(errorText())")
            }
            if count == 0 { break }
            contents.append(contentsOf: buffer[0..<count])
            guard contents.count <= 16 << 20 else {
                throw TokenKeyError(.corruptFile, "\(path) is larger than any key file")
            }
        }
        return Data(contents)
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}

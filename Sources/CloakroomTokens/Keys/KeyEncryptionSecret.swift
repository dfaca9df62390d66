public import Crypto
public import Foundation

/// The secret the key file is encrypted under, e.g. read by the server from an environment
/// variable or a file. The key-encryption key is derived from it with HKDF-SHA256 and a random
/// per-file salt.
///
/// HKDF is not a password hash: the secret must be high-entropy random data (generate it with
/// `openssl rand -base64 32`), not a memorable password. At least 32 bytes are required.
public struct KeyEncryptionSecret: Sendable, CustomStringConvertible {
    /// The smallest accepted secret, in bytes.
    public static let minimumByteCount = 32

    let key: SymmetricKey

    /// Wraps raw secret bytes.
    public init(bytes: some Collection<UInt8>) throws(TokenKeyError) {
        guard bytes.count >= Self.minimumByteCount else {
            throw TokenKeyError(.weakSecret, "the key-file secret must be at least \(Self.minimumByteCount) bytes of random data")
        }
        self.key = SymmetricKey(data: Array(bytes))
    }

    /// Wraps secret text (its UTF-8 bytes, surrounding whitespace and newlines removed, as
    /// when read from a file or an environment variable).
    public init(text: String) throws(TokenKeyError) {
        try self.init(bytes: Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8))
    }

    /// Reads the secret text from a file, refused (`insecure_permissions`) like the key file
    /// itself if group or others have any permission bit on it: whoever reads the secret and the
    /// key file holds every signing key.
    public init(contentsOf url: URL) throws(TokenKeyError) {
        let data = try KeyFile.readFile(from: url, holding: "the key-file secret")
        try self.init(text: String(decoding: data, as: UTF8.self))
    }

    /// Never prints the secret.
    public var description: String { "KeyEncryptionSecret(redacted)" }

    /// A 256-bit key for `purpose`, derived from the secret with HKDF-SHA256 (info
    /// `cloakroom <purpose> v1`): every node holding the secret derives the same key, and no
    /// purpose's key reveals another's or the secret.
    public func derivedKey(for purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array("cloakroom \(purpose) v1".utf8), outputByteCount: 32)
    }

    /// The AES-256 key-encryption key for a file with `salt`.
    func keyEncryptionKey(salt: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: key,
            salt: salt,
            info: Array("cloakroom token key file v1 key-encryption key".utf8),
            outputByteCount: 32
        )
    }
}

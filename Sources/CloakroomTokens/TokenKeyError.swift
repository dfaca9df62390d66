/// Why a key operation failed: generation, import, signing, or reading and writing the key file.
///
/// Messages name files and key IDs but never contain key material or the file secret.
public struct TokenKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, stable for CLI exit messages and logs.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The ring has no active key to sign with (empty, or the active key was retired).
        case noActiveKey = "no_active_key"
        /// The algorithm cannot be used for this operation (e.g. signing with ES512).
        case unsupportedAlgorithm = "unsupported_algorithm"
        /// A JWK, JWKS or key in the file is malformed, too weak, or inconsistent.
        case invalidKey = "invalid_key"
        /// No key has this `kid`.
        case unknownKid = "unknown_kid"
        /// A key with this `kid` already exists.
        case duplicateKid = "duplicate_kid"
        /// Secret material (a private or `oct` key) offered where only public keys are accepted.
        case secretMaterialRefused = "secret_material_refused"
        /// The signature could not be computed.
        case signingFailed = "signing_failed"
        /// The key file is readable or writable by group or others.
        case insecurePermissions = "insecure_permissions"
        /// The key file is missing, unreadable, or could not be written.
        case fileAccess = "file_access"
        /// The key file is not a Cloakroom key file, or its contents are damaged.
        case corruptFile = "corrupt_file"
        /// The key file does not open with the given secret (wrong secret, or the file was altered).
        case wrongSecret = "wrong_secret"
        /// The key-encryption secret is too short.
        case weakSecret = "weak_secret"
    }

    /// The kind.
    public let code: Code
    /// An explanation safe to print to an operator.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "TokenKeyError(\(code.rawValue)): \(message)" }
}

/// Why a key operation failed: generation, import, signing, or reading and writing the key file.
///
/// Messages name files and key IDs but never contain key material or the file secret.
public struct TokenKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, stable for CLI exit messages and logs.
    ///
    /// A struct over a private enum (as jwt-kit's `JWTError`): a new kind breaks no caller's `switch`.
    public struct Code: Sendable, Hashable, CaseIterable, CustomStringConvertible {
        private enum Base: String, Sendable, CaseIterable {
            case noActiveKey = "no_active_key"
            case unsupportedAlgorithm = "unsupported_algorithm"
            case invalidKey = "invalid_key"
            case unknownKid = "unknown_kid"
            case duplicateKid = "duplicate_kid"
            case secretMaterialRefused = "secret_material_refused"
            case signingFailed = "signing_failed"
            case insecurePermissions = "insecure_permissions"
            case fileAccess = "file_access"
            case corruptFile = "corrupt_file"
            case wrongSecret = "wrong_secret"
            case weakSecret = "weak_secret"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The stable wire name (`too_large`, `invalid_credentials`, …).
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
        /// Every kind, in declaration order.
        public static var allCases: [Code] { Base.allCases.map(Code.init) }

        /// The ring has no active key to sign with (empty, or the active key was retired).
        public static let noActiveKey = Code(.noActiveKey)
        /// The algorithm cannot be used for this operation (e.g. signing with ES512).
        public static let unsupportedAlgorithm = Code(.unsupportedAlgorithm)
        /// A JWK, JWKS or key in the file is malformed, too weak, or inconsistent.
        public static let invalidKey = Code(.invalidKey)
        /// No key has this `kid`.
        public static let unknownKid = Code(.unknownKid)
        /// A key with this `kid` already exists.
        public static let duplicateKid = Code(.duplicateKid)
        /// Secret material (a private or `oct` key) offered where only public keys are accepted.
        public static let secretMaterialRefused = Code(.secretMaterialRefused)
        /// The signature could not be computed.
        public static let signingFailed = Code(.signingFailed)
        /// The key file is readable or writable by group or others.
        public static let insecurePermissions = Code(.insecurePermissions)
        /// The key file is missing, unreadable, or could not be written.
        public static let fileAccess = Code(.fileAccess)
        /// The key file is not a Cloakroom key file, or its contents are damaged.
        public static let corruptFile = Code(.corruptFile)
        /// The key file does not open with the given secret (wrong secret, or the file was altered).
        public static let wrongSecret = Code(.wrongSecret)
        /// The key-encryption secret is too short.
        public static let weakSecret = Code(.weakSecret)
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

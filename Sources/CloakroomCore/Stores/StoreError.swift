/// Why a store operation failed: the one error type of every store seam (sessions, tokens).
///
/// The kinds are private, behind static members and `is…` properties, so a new kind breaks no
/// caller (the shape of jwt-kit's `JWTError`). "Not found" is never an error: stores answer it
/// with `nil` or `false`. Messages never contain a key, a token or session data.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    private enum Kind: Sendable { case duplicateKey, unavailable, unsupported }
    private let kind: Kind
    /// What went wrong, with no key, token or session data in it.
    public let message: String

    /// The key is already taken (an insert of a key that exists).
    public static func duplicateKey() -> StoreError { .init(kind: .duplicateKey, message: "key already exists") }
    /// The backend could not be reached or failed.
    public static func unavailable(_ message: String) -> StoreError { .init(kind: .unavailable, message: message) }
    /// The store lacks an optional ability the caller needs (a per-user index, iteration).
    public static func unsupported(_ ability: String) -> StoreError {
        .init(kind: .unsupported, message: "this store cannot \(ability)")
    }

    /// True for `duplicateKey`.
    public var isDuplicateKey: Bool { kind == .duplicateKey }
    /// True for `unavailable`.
    public var isUnavailable: Bool { kind == .unavailable }
    /// True for `unsupported`.
    public var isUnsupported: Bool { kind == .unsupported }
    public var description: String { "StoreError: \(message)" }
}

extension StoreError: BackendUnavailableError {}

import CloakroomCore
import Crypto
public import Foundation

/// The secret every node of a replicated cluster shares (`--cluster-secret-file`): a node proves
/// it knows it before a peer accepts a byte of replication from it, and each connection's frame
/// keys are derived from it (see `PeerHandshake`). At least 32 bytes from a CSPRNG, written in a
/// file as base64url text (`ClusterSecret.generate()` makes one); the file must not be readable
/// by group or others.
public struct ClusterSecret: Sendable {
    /// A secret that cannot be used, and why.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    let key: SymmetricKey

    /// Fewest bytes a secret may have.
    public static let minimumByteCount = 32

    /// A secret from raw bytes (at least `minimumByteCount`).
    public init(bytes: [UInt8]) throws(Problem) {
        guard bytes.count >= Self.minimumByteCount else {
            throw Problem("a cluster secret needs at least \(Self.minimumByteCount) bytes, got \(bytes.count)")
        }
        self.key = SymmetricKey(data: bytes)
    }

    /// Reads the base64url text in `file`; refuses a file group or others may read, and text
    /// that is not at least 32 bytes of base64url. The message never holds the secret.
    public static func load(file: URL) throws -> ClusterSecret {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        } catch {
            throw Problem("cluster secret file \(file.path) cannot be read")
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw Problem("cluster secret file \(file.path) is readable by others (mode \(String(mode, radix: 8))): chmod 600 it")
        }
        guard let text = try? String(contentsOf: file, encoding: .utf8) else {
            throw Problem("cluster secret file \(file.path) cannot be read as text")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Base64URL.decode(trimmed) else {
            throw Problem("cluster secret file \(file.path) does not hold base64url text (make one with `cloakroom cluster secret`)")
        }
        return try ClusterSecret(bytes: bytes)
    }

    /// A new secret's file text: 32 random bytes as base64url, then a newline.
    public static func generate() -> String {
        SecureToken(byteCount: 32).text + "\n"
    }

    /// Writes a new secret to `file`, owner-only from the moment it exists. Never replaces a file:
    /// throws when one is there.
    public static func create(at file: URL) throws {
        guard !FileManager.default.fileExists(atPath: file.path) else {
            throw Problem("\(file.path) exists: a cluster secret is never overwritten (remove it first to replace it)")
        }
        guard FileManager.default.createFile(atPath: file.path, contents: Data(generate().utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Problem("cannot create \(file.path)")
        }
    }
}

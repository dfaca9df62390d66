public import Crypto
import Foundation
import Synchronization

/// Secret keys for sealing values (cookies, OAuth codes), each named by an ID: the first seals,
/// every one opens. To rotate, put a new key first and keep the old ones until what they sealed
/// has expired; then remove them (what only they sealed stops opening, with its own reason).
public struct SealingKeyRing: Sendable {
    /// One key: 32 random bytes and a short public ID (carried in the clear in what it seals).
    public struct Key: Sendable {
        public let id: String
        let material: SymmetricKey
        /// The subkeys `Sealer` uses, derived once here rather than on every seal and open.
        let derived: [String: SymmetricKey]

        /// A key of exactly 32 bytes with an ID of 1 to 16 characters of `A-Z a-z 0-9 - _`.
        public init(id: String, bytes: [UInt8]) throws(SealError) {
            guard (1...16).contains(id.utf8.count), id.utf8.allSatisfy(Self.isIDCharacter) else {
                throw SealError(.invalidKey, "a sealing key ID is 1 to 16 characters of A-Z a-z 0-9 - _")
            }
            guard bytes.count == 32 else { throw SealError(.invalidKey, "a sealing key is 32 bytes, not \(bytes.count)") }
            self.id = id
            self.material = SymmetricKey(data: bytes)
            self.derived = Self.derive(material)
        }

        /// A key made in code (derived or generated), under `id` (an invalid ID becomes `k1`); a
        /// key of another size than 256 bits is first stretched or narrowed to 256 by HKDF.
        public init(_ key: SymmetricKey, id: String = "k1") {
            self.id = (1...16).contains(id.utf8.count) && id.utf8.allSatisfy(Self.isIDCharacter) ? id : "k1"
            self.material = key.bitCount == 256 ? key : HKDF<SHA256>.deriveKey(inputKeyMaterial: key, outputByteCount: 32)
            self.derived = Self.derive(material)
        }

        /// The subkey of each algorithm `Sealer` has.
        static let purposes = ["aes-256-gcm", "chacha20-poly1305", "hmac-sha256"]

        static func derive(_ material: SymmetricKey) -> [String: SymmetricKey] {
            Dictionary(uniqueKeysWithValues: purposes.map { ($0, subkey($0, of: material)) })
        }

        /// A new key of 32 random bytes (the system CSPRNG).
        public static func generate(id: String) throws(SealError) -> Key {
            try Key(id: id, bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        }

        /// The subkey for one use (`purpose`): HKDF-SHA256, so the same secret never serves two
        /// algorithms or two purposes.
        func subkey(_ purpose: String) -> SymmetricKey {
            derived[purpose] ?? Self.subkey(purpose, of: material)
        }

        static func subkey(_ purpose: String, of material: SymmetricKey) -> SymmetricKey {
            HKDF<SHA256>.deriveKey(
                inputKeyMaterial: material,
                salt: Array("cloakroom-seal-v1".utf8),
                info: Array(purpose.utf8),
                outputByteCount: 32
            )
        }

        static func isIDCharacter(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"):
                true
            default: false
            }
        }
    }

    /// The keys of a replaceable ring, shared by its copies.
    final class Shared: Sendable {
        let keys: Mutex<[Key]>
        init(_ keys: [Key]) { self.keys = Mutex(keys) }
    }

    private let fixed: [Key]
    private let shared: Shared?

    /// The keys, the sealing one first.
    public var keys: [Key] { shared?.keys.withLock { $0 } ?? fixed }

    /// A ring sealing with `current`, opening with it and each of `previous`.
    public init(current: Key, previous: [Key] = []) throws(SealError) {
        let all = [current] + previous
        guard Set(all.map(\.id)).count == all.count else { throw SealError(.invalidKey, "two sealing keys share an ID") }
        self.fixed = all
        self.shared = nil
    }

    /// A ring of one key.
    public init(_ key: Key) {
        self.fixed = [key]
        self.shared = nil
    }

    private init(shared: Shared) {
        self.fixed = []
        self.shared = shared
    }

    /// A ring holding `ring`'s keys whose keys `replaceKeys(with:)` can change while it is in use:
    /// every copy of it (in a `Sealer`, a cookie store) sees the change at its next seal or open.
    /// A server that reloads its sealing key file hands these out.
    public static func replaceable(_ ring: SealingKeyRing) -> SealingKeyRing {
        SealingKeyRing(shared: Shared(ring.keys))
    }

    /// Whether `replaceKeys(with:)` works on this ring.
    public var isReplaceable: Bool { shared != nil }

    /// Gives a replaceable ring (and its copies) `ring`'s keys; false (nothing changes) for a ring
    /// made any other way.
    @discardableResult
    public func replaceKeys(with ring: SealingKeyRing) -> Bool {
        guard let shared else { return false }
        let keys = ring.keys
        shared.keys.withLock { $0 = keys }
        return true
    }

    /// The key that seals.
    public var current: Key { keys[0] }

    func key(id: Substring) -> Key? { keys.first { $0.id == id } }
}

import CloakroomCore
import Crypto
import Foundation

/// Who a node is to its peers: a stable name (`node2`) and an incarnation, 16 random bytes drawn
/// at each start, which tells a restarted node from its former self.
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    public let nodeID: String
    public let incarnation: [UInt8]

    /// A node named `nodeID` in a new incarnation.
    public init(nodeID: String) {
        self.init(nodeID: nodeID, incarnation: Base64URL.decode(SecureToken(byteCount: 16).text) ?? [])
    }

    init(nodeID: String, incarnation: [UInt8]) {
        self.nodeID = nodeID
        self.incarnation = incarnation
    }

    public var description: String { "\(nodeID)/\(Hex.encode(incarnation.prefix(4)))" }
}

/// The authenticated start of every replication connection, and the keys that seal its frames.
///
/// Three messages (each a length-prefixed frame in the clear):
/// 1. initiator → responder: `hello(I)` = version, node ID, incarnation, 32-byte nonce;
/// 2. responder → initiator: `hello(R)`, then `HMAC-SHA256(secret, "responder" ‖ transcript)`;
/// 3. initiator → responder: `HMAC-SHA256(secret, "initiator" ‖ transcript)`;
///
/// where the transcript is `"cloakroom replication v1" ‖ hello(I) ‖ hello(R)`. Each side checks the
/// other's proof (constant time) before it believes a byte: a node without the secret cannot
/// finish, and fresh nonces on both sides make an old handshake worthless. Both then derive one
/// key per direction with HKDF-SHA256 (the secret as input, the transcript's hash as salt), so no
/// key is used on two connections or in two directions.
public enum PeerHandshake {
    /// The protocol version in every hello.
    public static let version: UInt8 = 2
    static let label = Array("cloakroom replication v1".utf8)

    /// What the handshake refused, for logs (never a secret).
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// One side's opening message.
    struct Hello: Sendable, Equatable {
        var identity: PeerIdentity
        var nonce: [UInt8]

        static func fresh(_ identity: PeerIdentity) -> Hello {
            Hello(identity: identity, nonce: Base64URL.decode(SecureToken(byteCount: 32).text) ?? [])
        }

        /// version (1) ‖ incarnation (16) ‖ nonce (32) ‖ node ID length (1) ‖ node ID (UTF-8).
        var encoded: [UInt8] {
            let name = Array(identity.nodeID.utf8.prefix(255))
            return [PeerHandshake.version] + identity.incarnation + nonce + [UInt8(name.count)] + name
        }

        init(identity: PeerIdentity, nonce: [UInt8]) {
            self.identity = identity
            self.nonce = nonce
        }

        init(decoding bytes: [UInt8]) throws(Refusal) {
            guard bytes.count >= 50 else { throw Refusal("a hello too short to be one") }
            guard bytes[0] == PeerHandshake.version else { throw Refusal("a hello of protocol version \(bytes[0]), not \(PeerHandshake.version)") }
            let length = Int(bytes[49])
            guard bytes.count == 50 + length, let name = String(bytes: bytes[50...], encoding: .utf8), !name.isEmpty else {
                throw Refusal("a hello with a malformed node name")
            }
            self.init(identity: PeerIdentity(nodeID: name, incarnation: Array(bytes[1..<17])), nonce: Array(bytes[17..<49]))
        }
    }

    static func transcript(_ initiator: Hello, _ responder: Hello) -> [UInt8] {
        label + initiator.encoded + responder.encoded
    }

    /// The proof that the side in `role` holds `secret`, bound to this transcript.
    static func proof(_ secret: ClusterSecret, role: Role, transcript: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(role.rawValue.utf8) + transcript, using: secret.key))
    }

    /// Whether `candidate` is the proof of `role` (constant time).
    static func verify(_ candidate: [UInt8], _ secret: ClusterSecret, role: Role, transcript: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(candidate, authenticating: Array(role.rawValue.utf8) + transcript, using: secret.key)
    }

    /// The two frame keys of this connection, as `role` uses them.
    static func keys(_ secret: ClusterSecret, role: Role, transcript: [UInt8]) -> (sending: SymmetricKey, receiving: SymmetricKey) {
        let salt = Array(SHA256.hash(data: transcript))
        func derive(_ direction: String) -> SymmetricKey {
            HKDF<SHA256>.deriveKey(inputKeyMaterial: secret.key, salt: salt, info: Array("\(direction) frames".utf8), outputByteCount: 32)
        }
        let fromInitiator = derive("initiator to responder")
        let fromResponder = derive("responder to initiator")
        return role == .initiator ? (fromInitiator, fromResponder) : (fromResponder, fromInitiator)
    }

    /// The side that opened the connection, or the side that accepted it.
    enum Role: String, Sendable {
        case initiator
        case responder
    }
}

/// Seals outgoing frames: `sequence (8 bytes, big-endian) ‖ ChaCha20-Poly1305(payload)`, the
/// sequence also being the nonce's last 8 bytes and authenticated data. Sequences start at 1 and
/// rise by one per frame.
struct FrameSealer: Sendable {
    let key: SymmetricKey
    private(set) var sequence: UInt64 = 0

    init(key: SymmetricKey) { self.key = key }

    mutating func seal(_ payload: [UInt8]) throws -> [UInt8] {
        sequence += 1
        let header = FrameSealer.bigEndian(sequence)
        let box = try ChaChaPoly.seal(payload, using: key, nonce: try FrameSealer.nonce(sequence), authenticating: header)
        return header + Array(box.ciphertext) + Array(box.tag)
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    static func nonce(_ sequence: UInt64) throws -> ChaChaPoly.Nonce {
        try ChaChaPoly.Nonce(data: [0, 0, 0, 0] + bigEndian(sequence))
    }
}

/// Opens incoming frames, refusing any whose sequence is not the next one (a replay, a drop or a
/// reordering) and any that does not authenticate (forged, altered, or sealed with another key).
struct FrameOpener: Sendable {
    let key: SymmetricKey
    private(set) var sequence: UInt64 = 0

    init(key: SymmetricKey) { self.key = key }

    mutating func open(_ frame: [UInt8]) throws(PeerHandshake.Refusal) -> [UInt8] {
        guard frame.count >= 8 + 16 else { throw PeerHandshake.Refusal("a frame too short to be sealed") }
        let received = frame.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard received == sequence + 1 else {
            throw PeerHandshake.Refusal(
                received <= sequence
                    ? "a replayed frame (sequence \(received), expected \(sequence + 1))"
                    : "a frame out of order (sequence \(received), expected \(sequence + 1))"
            )
        }
        do {
            let box = try ChaChaPoly.SealedBox(
                nonce: try FrameSealer.nonce(received),
                ciphertext: frame[8..<(frame.count - 16)],
                tag: frame.suffix(16)
            )
            let payload = try ChaChaPoly.open(box, using: key, authenticating: frame.prefix(8))
            sequence = received
            return Array(payload)
        } catch {
            throw PeerHandshake.Refusal("a frame that does not authenticate (forged, altered, or from outside the cluster)")
        }
    }
}

import Crypto

/// Where a store that shards by key puts a record, carried in the secret itself: four lowercase
/// hex digits (16 bits).
///
/// A Redis Cluster store names every key of one user with the user's tag in a hash tag
/// (`{tag}`), so a session, the user's session index and the user's token state share one slot and
/// each change stays one atomic script. The tag rides at the front of a session ID or refresh token
/// (`tag.` then the random part, see `SecureToken(tag:)`) and is the first four hex digits of its
/// hashed key, so a request finds the slot from the cookie alone, with no lookup.
///
/// A user's tag is the first two bytes of SHA-256 of the user ID: it names one of 65,536 buckets,
/// which links tokens of one user to each other only as far as any two users share a bucket.
public struct KeyTag: Sendable, Hashable, CustomStringConvertible {
    /// Four lowercase hex digits.
    public let hex: String

    /// Wraps four lowercase hex digits; nil for anything else.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 4, hex.utf8.allSatisfy(Self.isLowerHex) else { return nil }
        self.hex = String(hex)
    }

    /// The tag a key carries: its first four hex digits (every hashed key has one).
    public init?(key: String) {
        guard key.utf8.count >= 4 else { return nil }
        self.init(hex: key.prefix(4))
    }

    /// The tag of every session and token of `userID`.
    public init(user userID: String) {
        let digest = Array(SHA256.hash(data: Array(userID.utf8)))
        self.hex = Hex.encode(digest.prefix(2))
    }

    /// The tag of an identifier written `tag.rest` (a family ID); nil when it carries none.
    public init?(taggedText text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count > 5, utf8[4] == UInt8(ascii: ".") else { return nil }
        self.init(hex: text.prefix(4))
    }

    /// `tag.` followed by `text`: an identifier that carries this tag.
    public func prefixing(_ text: String) -> String { hex + "." + text }

    public var description: String { hex }

    static func isLowerHex(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }
}

/// A store that places records by the `KeyTag` their keys carry (a Redis Cluster store) and needs
/// the secrets it is given made with their user's tag: an optional ability `SessionManager` and
/// `TokenService` ask for, beside `SweepableStore` and `PingableStore`.
///
/// Contract: a signed-in session's key, a refresh token's key and its family ID carry the tag of
/// their user (`KeyTag(user:)`); a rotated token's successor carries its predecessor's tag. A
/// record that breaks this is refused with `StoreError.unsupported`, never half written.
public protocol KeyTaggedStore: Sendable {
    /// Whether keys must carry their user's tag (false: any key will do).
    var requiresKeyTags: Bool { get }
}

public import CloakroomCore
import Crypto
public import Foundation

/// The sealing keys (sessions kept in cookies, preference cookies) in a file of their own, handled
/// like the token key file: the key list sealed with AES-256-GCM under the key-file secret, written
/// 0600 through a temporary file and `rename(2)`, refused when group or others may read it.
///
/// Each key has an ID (`s1`, `s2`, …) that travels in the clear in what it seals, and a state:
/// - `current`: seals, and opens;
/// - `next`: opens only. Add one on every node first, then make it current: no node ever meets a
///   value sealed under a key it does not hold (a rolling restart signs nobody out);
/// - `previous`: opens only, until what it sealed has expired; then remove it.
public enum SealingKeyFile {
    /// One key as the file lists it (no key material).
    public struct Entry: Sendable, Equatable {
        public let id: String
        public let state: String
        public let created: Date
    }

    static let format = "cloakroom-sealing-keys"
    static let associatedData = Array("cloakroom-sealing-keys/1".utf8)

    struct Body: Codable {
        var keys: [Stored]
    }

    struct Stored: Codable {
        var id: String
        /// `current`, `next` or `previous`.
        var state: String
        var created: Double
        /// Base64url of the 32 key bytes.
        var key: String
    }

    /// The ring the file holds (nil when there is no file).
    public static func load(_ url: URL, secret: KeyEncryptionSecret) throws(TokenKeyError) -> SealingKeyRing? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try ring(try read(url, secret: secret), path: url.path)
    }

    /// The ring the file holds, first writing a file with one new current key if there is none.
    public static func loadOrCreate(_ url: URL, secret: KeyEncryptionSecret, now: Date = Date()) throws(TokenKeyError) -> SealingKeyRing {
        if let ring = try load(url, secret: secret) { return ring }
        let body = Body(keys: [newKey(id: "s1", state: "current", now: now)])
        try write(body, to: url, secret: secret)
        return try ring(body, path: url.path)
    }

    /// The keys, current first, then next, then previous.
    public static func list(_ url: URL, secret: KeyEncryptionSecret) throws(TokenKeyError) -> [Entry] {
        ordered(try read(url, secret: secret).keys).map { Entry(id: $0.id, state: $0.state, created: Date(timeIntervalSince1970: $0.created)) }
    }

    /// Adds a new key. `activate`: it seals at once (the current key becomes previous); otherwise
    /// it is `next` (opens only) until `promote`. Returns its ID.
    @discardableResult
    public static func add(_ url: URL, secret: KeyEncryptionSecret, activate: Bool, now: Date = Date()) throws(TokenKeyError) -> String {
        var body = try read(url, secret: secret)
        let number = (body.keys.compactMap { Int($0.id.dropFirst()) }.max() ?? 0) + 1
        let id = "s\(number)"
        if activate { demoteCurrent(&body) }
        body.keys.append(newKey(id: id, state: activate ? "current" : "next", now: now))
        try write(body, to: url, secret: secret)
        return id
    }

    /// Makes key `id` the one that seals; the current one becomes previous.
    public static func promote(_ url: URL, id: String, secret: KeyEncryptionSecret) throws(TokenKeyError) {
        var body = try read(url, secret: secret)
        guard let target = body.keys.firstIndex(where: { $0.id == id }) else {
            throw TokenKeyError(.unknownKid, "no sealing key \(id) in \(url.path)")
        }
        guard body.keys[target].state != "current" else { return }
        demoteCurrent(&body)
        body.keys[target].state = "current"
        try write(body, to: url, secret: secret)
    }

    /// Removes key `id`: what only it sealed stops opening at once. The current key cannot be removed.
    public static func remove(_ url: URL, id: String, secret: KeyEncryptionSecret) throws(TokenKeyError) {
        var body = try read(url, secret: secret)
        guard let target = body.keys.firstIndex(where: { $0.id == id }) else {
            throw TokenKeyError(.unknownKid, "no sealing key \(id) in \(url.path)")
        }
        guard body.keys[target].state != "current" else {
            throw TokenKeyError(.invalidKey, "sealing key \(id) is current: add a new current key (rotate) before removing it")
        }
        body.keys.remove(at: target)
        try write(body, to: url, secret: secret)
    }

    /// A ring from `CLOAKROOM_SEALING_KEYS`-style text: `ID:BASE64URL` items separated by commas,
    /// the first sealing (32 bytes each).
    public static func ring(text: String) throws(TokenKeyError) -> SealingKeyRing {
        var keys: [SealingKeyRing.Key] = []
        for item in text.split(separator: ",") {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let bytes = Base64URL.decode(String(parts[1])) else {
                throw TokenKeyError(
                    .invalidKey,
                    "a sealing key is ID:BASE64URL (32 bytes), e.g. s1:\(Base64URL.encode(Array(repeating: 0, count: 32)))"
                )
            }
            do {
                keys.append(try SealingKeyRing.Key(id: String(parts[0]), bytes: bytes))
            } catch {
                throw TokenKeyError(.invalidKey, "sealing key \(parts[0]): \(error.message)")
            }
        }
        guard let first = keys.first else { throw TokenKeyError(.invalidKey, "no sealing key given") }
        do {
            return try SealingKeyRing(current: first, previous: Array(keys.dropFirst()))
        } catch {
            throw TokenKeyError(.invalidKey, error.message)
        }
    }

    // MARK: - Pieces

    static func newKey(id: String, state: String, now: Date) -> Stored {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        return Stored(id: id, state: state, created: now.timeIntervalSince1970, key: Base64URL.encode(bytes))
    }

    /// The current key becomes previous (it keeps opening what it sealed).
    static func demoteCurrent(_ body: inout Body) {
        for index in body.keys.indices where body.keys[index].state == "current" { body.keys[index].state = "previous" }
    }

    static func ordered(_ keys: [Stored]) -> [Stored] {
        let rank = ["current": 0, "next": 1, "previous": 2]
        return keys.enumerated().sorted { (rank[$0.element.state] ?? 3, -$0.offset) < (rank[$1.element.state] ?? 3, -$1.offset) }.map(\.element)
    }

    static func read(_ url: URL, secret: KeyEncryptionSecret) throws(TokenKeyError) -> Body {
        let data = try KeyFile.readFile(from: url, holding: "the sealing keys")
        return try KeyFile.openSealed(
            data,
            as: Body.self,
            secret: secret,
            path: url.path,
            format: format,
            associatedData: associatedData,
            kind: "sealing key file"
        )
    }

    static func write(_ body: Body, to url: URL, secret: KeyEncryptionSecret) throws(TokenKeyError) {
        try KeyFile.writeFile(try KeyFile.seal(body, secret: secret, format: format, associatedData: associatedData), to: url)
    }

    static func ring(_ body: Body, path: String) throws(TokenKeyError) -> SealingKeyRing {
        var keys: [SealingKeyRing.Key] = []
        for stored in ordered(body.keys) {
            guard let bytes = Base64URL.decode(stored.key) else { throw TokenKeyError(.corruptFile, "\(path): sealing key \(stored.id) is damaged") }
            do {
                keys.append(try SealingKeyRing.Key(id: stored.id, bytes: bytes))
            } catch {
                throw TokenKeyError(.corruptFile, "\(path): sealing key \(stored.id): \(error.message)")
            }
        }
        guard let first = keys.first, body.keys.contains(where: { $0.state == "current" }) else {
            throw TokenKeyError(.corruptFile, "\(path) holds no current sealing key")
        }
        do {
            return try SealingKeyRing(current: first, previous: Array(keys.dropFirst()))
        } catch {
            throw TokenKeyError(.corruptFile, "\(path): \(error.message)")
        }
    }
}

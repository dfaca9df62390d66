import CloakroomCore
import CloakroomSessions
import Foundation

/// What nodes tell each other about sessions, as the payload of one sealed frame.
///
/// Each message is an operation byte, then its fields: integers big-endian, byte strings and
/// texts length-prefixed (4 bytes). A record travels whole, in `SessionRecord`'s compact binary
/// form, with its 32-byte key and the node that wrote it: a receiver keeps the greater
/// (version, node) and never resurrects a key it saw deleted.
enum ReplicationMessage: Sendable, Equatable {
    /// A session written (inserted or updated) on `origin`; `ack` 0 asks for no acknowledgement.
    case put(key: [UInt8], record: [UInt8], origin: String, ack: UInt64)
    /// A session deleted; remembered until `until` (ms since 1970) so a late copy cannot bring it back.
    case delete(key: [UInt8], until: Int64, ack: UInt64)
    /// Every session of a user deleted but `except` ("sign out everywhere"), remembered until `until`.
    case deleteUser(userID: String, except: [UInt8]?, until: Int64, ack: UInt64)
    /// Sliding-expiry moves, batched: key, last seen, idle expiry (ms since 1970).
    case touches([Touch])
    /// The receiver has applied the message that carried `ack`.
    case ack(UInt64)
    /// "I am alive", every 250 ms.
    case heartbeat
    /// "Send me everything you hold" (a node that starts or returns).
    case syncRequest
    /// Part of the answer: records with their writers; acknowledged before the next is sent, so a
    /// sender holds one chunk at a time, however many sessions it has.
    case syncChunk([SyncedRecord], ack: UInt64)
    /// The answer is complete.
    case syncDone
    /// `backup`: "send me your copy of this session" (a request landed on a node without it).
    case fetch(key: [UInt8], request: UInt64)
    /// The answer to `fetch`: the copy and its writer, or an empty record when there is none; the
    /// node the answerer takes for the session's owner now (itself while it is taking the session
    /// over, "" when it does not know); and whether it `handedOver` the session to the asker
    /// (it owned it, or backed it up for an owner that is gone).
    case fetched(request: UInt64, record: [UInt8], origin: String, owner: String, handedOver: Bool)
    /// `backup`: "drop your copy of this session, unless it is newer than `version`" (another
    /// node owns it now and chose another backup). No tombstone: the session lives on.
    case release(key: [UInt8], version: UInt64)
    /// `backup`: "send me your copies of this user's sessions" (a listing spans every node).
    case userQuery(userID: String, request: UInt64)
    /// The answer to `userQuery`.
    case userRecords(request: UInt64, [SyncedRecord])

    struct Touch: Sendable, Equatable {
        var key: [UInt8]
        var lastSeen: Int64
        var idleExpiresAt: Int64
    }

    struct SyncedRecord: Sendable, Equatable {
        var key: [UInt8]
        var record: [UInt8]
        var origin: String
    }

    /// The most record bytes one message carries: half of `ReplicationLink.maximumFrameBytes`,
    /// leaving room for framing and the seal. (256 sessions of 8 KiB are 2 MiB: one frame of them
    /// was refused by the peer, which closed the link.)
    static let chunkBudget = ReplicationLink.maximumFrameBytes / 2

    /// `records` in consecutive groups of at most `limit` records and about `budget` bytes each
    /// (a record larger than the budget travels alone).
    static func chunks(_ records: [SyncedRecord], limit: Int = 256, budget: Int = chunkBudget) -> [[SyncedRecord]] {
        var chunks: [[SyncedRecord]] = []
        var current: [SyncedRecord] = []
        var bytes = 0
        for record in records {
            let size = record.key.count + record.record.count + record.origin.utf8.count + 16
            if !current.isEmpty, current.count >= limit || bytes + size > budget {
                chunks.append(current)
                current = []
                bytes = 0
            }
            current.append(record)
            bytes += size
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// A message that could not be read (a bug or a version mismatch between nodes: the frame was
    /// authentic).
    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// The acknowledgement this message asks for (0: none).
    var ackID: UInt64 {
        switch self {
        case .put(_, _, _, let ack), .delete(_, _, let ack), .deleteUser(_, _, _, let ack), .syncChunk(_, let ack): ack
        default: 0
        }
    }

    var encoded: [UInt8] {
        var out = ByteWriter()
        switch self {
        case .put(let key, let record, let origin, let ack):
            out.byte(1)
            out.bytes(key)
            out.bytes(record)
            out.text(origin)
            out.u64(ack)
        case .delete(let key, let until, let ack):
            out.byte(2)
            out.bytes(key)
            out.u64(UInt64(bitPattern: until))
            out.u64(ack)
        case .deleteUser(let userID, let except, let until, let ack):
            out.byte(3)
            out.text(userID)
            out.bytes(except ?? [])
            out.u64(UInt64(bitPattern: until))
            out.u64(ack)
        case .touches(let touches):
            out.byte(4)
            out.u64(UInt64(touches.count))
            for touch in touches {
                out.bytes(touch.key)
                out.u64(UInt64(bitPattern: touch.lastSeen))
                out.u64(UInt64(bitPattern: touch.idleExpiresAt))
            }
        case .ack(let id):
            out.byte(5)
            out.u64(id)
        case .heartbeat:
            out.byte(6)
        case .syncRequest:
            out.byte(7)
        case .syncChunk(let records, let ack):
            out.byte(8)
            out.u64(ack)
            out.u64(UInt64(records.count))
            for item in records {
                out.bytes(item.key)
                out.bytes(item.record)
                out.text(item.origin)
            }
        case .syncDone:
            out.byte(9)
        case .fetch(let key, let request):
            out.byte(10)
            out.bytes(key)
            out.u64(request)
        case .fetched(let request, let record, let origin, let owner, let handedOver):
            out.byte(11)
            out.u64(request)
            out.bytes(record)
            out.text(origin)
            out.text(owner)
            out.byte(handedOver ? 1 : 0)
        case .release(let key, let version):
            out.byte(12)
            out.bytes(key)
            out.u64(version)
        case .userQuery(let userID, let request):
            out.byte(13)
            out.text(userID)
            out.u64(request)
        case .userRecords(let request, let records):
            out.byte(14)
            out.u64(request)
            out.u64(UInt64(records.count))
            for item in records {
                out.bytes(item.key)
                out.bytes(item.record)
                out.text(item.origin)
            }
        }
        return out.buffer
    }

    init(decoding bytes: [UInt8]) throws {
        var input = ByteReader(bytes)
        switch try input.byte() {
        case 1:
            self = .put(key: try input.key(), record: try input.bytes(), origin: try input.text(), ack: try input.u64())
        case 2:
            self = .delete(key: try input.key(), until: Int64(bitPattern: try input.u64()), ack: try input.u64())
        case 3:
            let user = try input.text()
            let except = try input.bytes()
            guard except.isEmpty || except.count == 32 else { throw Malformed(description: "a key that is not 32 bytes") }
            self = .deleteUser(userID: user, except: except.isEmpty ? nil : except, until: Int64(bitPattern: try input.u64()), ack: try input.u64())
        case 4:
            let count = try input.count(itemBytes: 36)
            var touches: [Touch] = []
            touches.reserveCapacity(count)
            for _ in 0..<count {
                touches.append(
                    Touch(key: try input.key(), lastSeen: Int64(bitPattern: try input.u64()), idleExpiresAt: Int64(bitPattern: try input.u64()))
                )
            }
            self = .touches(touches)
        case 5:
            self = .ack(try input.u64())
        case 6:
            self = .heartbeat
        case 7:
            self = .syncRequest
        case 8:
            let ack = try input.u64()
            self = .syncChunk(try input.syncedRecords(), ack: ack)
        case 9:
            self = .syncDone
        case 10:
            self = .fetch(key: try input.key(), request: try input.u64())
        case 11:
            self = .fetched(
                request: try input.u64(),
                record: try input.bytes(),
                origin: try input.text(),
                owner: try input.text(),
                handedOver: try input.byte() == 1
            )
        case 12:
            self = .release(key: try input.key(), version: try input.u64())
        case 13:
            self = .userQuery(userID: try input.text(), request: try input.u64())
        case 14:
            let request = try input.u64()
            self = .userRecords(request: request, try input.syncedRecords())
        case let other:
            throw Malformed(description: "unknown operation \(other)")
        }
        guard input.isAtEnd else { throw Malformed(description: "bytes after the message") }
    }
}

struct ByteWriter {
    var buffer: [UInt8] = []

    mutating func byte(_ value: UInt8) { buffer.append(value) }

    mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }

    mutating func bytes(_ value: [UInt8]) {
        withUnsafeBytes(of: UInt32(value.count).bigEndian) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: value)
    }

    mutating func text(_ value: String) { bytes(Array(value.utf8)) }
}

struct ByteReader {
    private let input: [UInt8]
    private var offset = 0

    init(_ input: [UInt8]) { self.input = input }

    var isAtEnd: Bool { offset == input.count }

    mutating func byte() throws -> UInt8 {
        guard offset < input.count else { throw ReplicationMessage.Malformed(description: "a message cut short") }
        defer { offset += 1 }
        return input[offset]
    }

    mutating func u64() throws -> UInt64 {
        guard input.count - offset >= 8 else { throw ReplicationMessage.Malformed(description: "a message cut short") }
        defer { offset += 8 }
        return input[offset..<(offset + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    mutating func bytes() throws -> [UInt8] {
        guard input.count - offset >= 4 else { throw ReplicationMessage.Malformed(description: "a message cut short") }
        let length = Int(input[offset..<(offset + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        offset += 4
        guard input.count - offset >= length else { throw ReplicationMessage.Malformed(description: "a length beyond the message") }
        defer { offset += length }
        return Array(input[offset..<(offset + length)])
    }

    mutating func key() throws -> [UInt8] {
        let key = try bytes()
        guard key.count == 32 else { throw ReplicationMessage.Malformed(description: "a key that is not 32 bytes") }
        return key
    }

    mutating func text() throws -> String {
        guard let text = String(bytes: try bytes(), encoding: .utf8) else {
            throw ReplicationMessage.Malformed(description: "text that is not UTF-8")
        }
        return text
    }

    /// A count, then that many (key, record, writer) items.
    mutating func syncedRecords() throws -> [ReplicationMessage.SyncedRecord] {
        let count = try self.count(itemBytes: 44)
        var records: [ReplicationMessage.SyncedRecord] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            records.append(.init(key: try key(), record: try bytes(), origin: try text()))
        }
        return records
    }

    /// A count of items of at least `itemBytes` each that the rest of the message can hold.
    mutating func count(itemBytes: Int) throws -> Int {
        let count = try u64()
        guard count <= UInt64((input.count - offset) / itemBytes) else {
            throw ReplicationMessage.Malformed(description: "a count beyond the message")
        }
        return Int(count)
    }
}

extension SessionRecord {
    /// The version as `release` carries it (a record's version is never negative).
    var wireVersion: UInt64 { UInt64(max(version, 0)) }
}

import Foundation

/// A compact binary form of a record, for stores that keep many in memory.
///
/// Layout (little-endian): version i64, created/lastSeen/idle/absolute ms i64, authenticated ms
/// i64 (or i64.min for none), then length-prefixed (u32) UTF-8 strings: handle, userID, userAgent,
/// ipAddress (length 0xFFFFFFFF for nil), then a u32 count of data pairs, each two strings.
/// The key is not included: the store holds it.
extension SessionRecord {
    package func binaryEncoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(
            64 + handle.utf8.count + (userAgent?.utf8.count ?? 0) + data.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 8 }
        )
        func int(_ value: Int64) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ value: String?) {
            guard let value else { return u32(.max) }
            u32(UInt32(value.utf8.count))
            out.append(contentsOf: value.utf8)
        }
        func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        int(Int64(version))
        int(ms(createdAt))
        int(ms(lastSeen))
        int(ms(idleExpiresAt))
        int(ms(absoluteExpiresAt))
        int(authenticatedAt.map(ms) ?? .min)
        string(handle)
        string(userID)
        string(userAgent)
        string(ipAddress)
        u32(UInt32(data.count))
        for (key, value) in data {
            string(key)
            string(value)
        }
        return out
    }

    /// The user ID field, read without decoding the rest.
    static func binaryUserID(_ bytes: [UInt8]) -> String? {
        func length(at offset: Int) -> UInt32? {
            guard offset + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[offset..<offset + 4]) }
            return UInt32(littleEndian: value)
        }
        guard let handleLength = length(at: 48), handleLength != .max else { return nil }
        let userOffset = 52 + Int(handleLength)
        guard let userLength = length(at: userOffset), userLength != .max, userOffset + 4 + Int(userLength) <= bytes.count else { return nil }
        return String(decoding: bytes[(userOffset + 4)..<(userOffset + 4 + Int(userLength))], as: UTF8.self)
    }

    /// Size of the compact binary form: the session's content without any store's overhead.
    public var binaryEncodedCount: Int { binaryEncoded().count }

    package init?(binary bytes: [UInt8], key: String) {
        var offset = 0
        func int() -> Int64? {
            guard offset + 8 <= bytes.count else { return nil }
            var value: Int64 = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[offset..<offset + 8]) }
            offset += 8
            return Int64(littleEndian: value)
        }
        func u32() -> UInt32? {
            guard offset + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[offset..<offset + 4]) }
            offset += 4
            return UInt32(littleEndian: value)
        }
        func string() -> String?? {
            guard let length = u32() else { return nil }
            if length == .max { return .some(nil) }
            let end = offset + Int(length)
            guard end <= bytes.count else { return nil }
            defer { offset = end }
            return .some(String(decoding: bytes[offset..<end], as: UTF8.self))
        }
        func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
        guard let version = int(), let created = int(), let seen = int(), let idle = int(), let absolute = int(), let authenticated = int(),
            let handleField = string(), let handle = handleField, let userID = string(), let userAgent = string(), let ip = string(),
            let count = u32()
        else { return nil }
        var data: [String: String] = [:]
        data.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let k = string(), let v = string(), let key = k, let value = v else { return nil }
            data[key] = value
        }
        self.init(
            key: key,
            handle: handle,
            userID: userID,
            data: data,
            createdAt: date(created),
            lastSeen: date(seen),
            authenticatedAt: authenticated == .min ? nil : date(authenticated),
            idleExpiresAt: date(idle),
            absoluteExpiresAt: date(absolute),
            userAgent: userAgent,
            ipAddress: ip,
            version: Int(version)
        )
    }
}

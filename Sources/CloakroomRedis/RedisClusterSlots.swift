/// Redis Cluster's key → slot function and slot map.
///
/// A key's slot is CRC16 (XMODEM: polynomial 0x1021, initial 0) of the key modulo 16384, where a
/// key holding `{…}` with at least one byte between the first `{` and the next `}` is hashed on
/// those bytes alone (its hash tag), so keys sharing a tag share a slot.
package enum RedisClusterSlots {
    package static let count = 16_384

    /// The slot of `key`.
    package static func slot(of key: [UInt8]) -> Int {
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            hashed = key[(open + 1)..<close]
        }
        return Int(crc16(hashed) & 0x3FFF)
    }

    /// CRC16/XMODEM.
    package static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }

    /// The key a command routes by (its first key), or nil for a command with none (`PING`,
    /// `INFO`, `SCAN`, `SCRIPT`, a script with no keys).
    static func routingKey(of command: RedisCommand) -> [UInt8]? {
        let arguments = command.arguments
        switch command.name {
        case "PING", "INFO", "SCAN", "SCRIPT", "CLUSTER", "ROLE", "ASKING", "CONFIG", "DBSIZE", "FLUSHALL", "FLUSHDB":
            return nil
        case "EVALSHA", "EVAL", "EVALSHA_RO", "EVAL_RO":
            guard arguments.count > 3, let count = Int(String(decoding: arguments[2], as: UTF8.self)), count > 0 else { return nil }
            return arguments[3]
        default:
            return arguments.count > 1 ? arguments[1] : nil
        }
    }
}

/// Which primary serves each slot, as a cluster node described it.
struct RedisSlotMap: Sendable, Equatable {
    /// A primary's address, `host:port`.
    struct Node: Hashable, Sendable {
        var host: String
        var port: Int
        var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Index into `nodes` per slot; -1 for a slot no primary serves.
    private(set) var owner: [Int16]
    private(set) var nodes: [Node]

    init() {
        owner = Array(repeating: -1, count: RedisClusterSlots.count)
        nodes = []
    }

    /// The primary serving `slot`, if known.
    func node(for slot: Int) -> Node? {
        let index = Int(owner[slot])
        return index >= 0 ? nodes[index] : nil
    }

    /// Records that `node` serves `range`; a range outside 0..<16384 is ignored, and so is a node
    /// past the 16,384th (a cluster has at most one primary per slot).
    mutating func assign(_ range: ClosedRange<Int>, to node: Node) {
        guard range.lowerBound >= 0, range.upperBound < RedisClusterSlots.count else { return }
        let index: Int
        if let known = nodes.firstIndex(of: node) {
            index = known
        } else {
            guard nodes.count < RedisClusterSlots.count else { return }
            nodes.append(node)
            index = nodes.count - 1
        }
        for slot in range { owner[slot] = Int16(index) }
    }

    /// How many slots have a primary.
    var coveredSlots: Int { owner.lazy.filter { $0 >= 0 }.count }

    /// The map from a `CLUSTER SHARDS` reply (Redis 7): each shard's slot ranges go to its online
    /// primary. `fallbackHost` replaces an empty or `?` address (a node that does not know its own).
    static func fromShards(_ reply: RESPValue, fallbackHost: String) -> RedisSlotMap? {
        guard let shards = reply.array else { return nil }
        var map = RedisSlotMap()
        for shard in shards {
            let fields = dictionary(shard)
            guard let slots = fields["slots"]?.array, let nodeList = fields["nodes"]?.array else { return nil }
            var primary: Node?
            for nodeValue in nodeList {
                let node = dictionary(nodeValue)
                guard node["role"]?.string == "master", node["health"]?.string ?? "online" == "online" else { continue }
                let port = node["port"]?.int ?? node["tls-port"]?.int
                var host = node["ip"]?.string ?? node["endpoint"]?.string ?? ""
                if host.isEmpty || host == "?" { host = fallbackHost }
                if let port { primary = Node(host: host, port: Int(port)) }
            }
            guard let primary else { continue }
            var index = 0
            while index + 1 < slots.count {
                if let start = slots[index].int, let end = slots[index + 1].int, start <= end {
                    map.assign(Int(start)...Int(end), to: primary)
                }
                index += 2
            }
        }
        return map
    }

    /// The map from a `CLUSTER SLOTS` reply (Redis 3 to 7): `[start, end, [host, port, id], replicas…]`.
    static func fromSlots(_ reply: RESPValue, fallbackHost: String) -> RedisSlotMap? {
        guard let ranges = reply.array else { return nil }
        var map = RedisSlotMap()
        for range in ranges {
            guard let items = range.array, items.count >= 3, let start = items[0].int, let end = items[1].int, start <= end,
                let primary = items[2].array, primary.count >= 2, let port = primary[1].int
            else { return nil }
            var host = primary[0].string ?? ""
            if host.isEmpty || host == "?" { host = fallbackHost }
            map.assign(Int(start)...Int(end), to: Node(host: host, port: Int(port)))
        }
        return map
    }

    /// A RESP2 flat map (`[name, value, name, value…]`) as a dictionary.
    private static func dictionary(_ value: RESPValue) -> [String: RESPValue] {
        guard let items = value.array else { return [:] }
        var fields: [String: RESPValue] = [:]
        var index = 0
        while index + 1 < items.count {
            if let name = items[index].string { fields[name] = items[index + 1] }
            index += 2
        }
        return fields
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A block of IP addresses, IPv4 or IPv6, written as an address (`10.0.0.7`, `::1`) or a CIDR
/// block by its network address (`10.0.0.0/8`, `fd00::/8`; not `10.1.2.3/8`).
public struct IPAddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes (4 or 16) and its prefix length.
    let network: [UInt8]
    let prefixLength: Int
    public let description: String

    /// Parses `text`; nil when it is not an address or CIDR block.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = Self.bytes(of: String(parts[0])) else { return nil }
        let bits = bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...bits).contains(parsed), parts[1].allSatisfy(\.isASCII) else { return nil }
            length = parsed
        }
        // `1.2.3.4/8` is refused rather than read as 1.0.0.0/8: a block written with host bits
        // set is most likely a typo, and trusting a wider block than meant is not harmless.
        guard Self.masked(bytes, length) == bytes else { return nil }
        self.network = bytes
        self.prefixLength = length
        self.description = text
    }

    /// Whether the address `text` lies in this block (an IPv4-mapped IPv6 address counts as IPv4).
    public func contains(_ text: String) -> Bool {
        guard var bytes = Self.bytes(of: text) else { return false }
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12...])
        }
        guard bytes.count == network.count else { return false }
        return Self.masked(bytes, prefixLength) == network
    }

    /// The address bytes of an IPv4 or IPv6 address in text, via `inet_pton` into a plain byte
    /// buffer (no `in_addr` value: which module that C type comes from differs between builds).
    public static func bytes(of text: String) -> [UInt8]? {
        let family: Int32
        let count: Int
        if text.contains(":") {
            (family, count) = (AF_INET6, 16)
        } else if text.contains(".") {
            (family, count) = (AF_INET, 4)
        } else {
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 16)
        let parsed = buffer.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return parsed == 1 ? Array(buffer.prefix(count)) : nil
    }

    static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let keep = max(0, min(8, length - index * 8))
            return keep == 8 ? byte : byte & ~(UInt8(0xFF) >> keep)
        }
    }
}

extension IPAddressRange {
    /// The block a throttle counts an address under: an IPv4 address (or an IPv4-mapped IPv6
    /// one) alone, an IPv6 address by its `/ipv6PrefixLength` network (by default /64: one
    /// subscriber's allocation, which a client can rotate through freely). Text that is not an
    /// address is kept, cut to 64 bytes.
    public static func throttleBlock(of address: String, ipv6PrefixLength: Int = 64) -> String {
        guard var bytes = bytes(of: address) else { return String(decoding: address.utf8.prefix(64), as: UTF8.self) }
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12...])
        }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        let length = max(0, min(128, ipv6PrefixLength))
        let network = masked(bytes, length)
        let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(network[$0]) << 8 | UInt16(network[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "/\(length)"
    }
}

extension IPAddressRange {
    /// The host name of a `Host` header or URL authority, lowercased, without port, brackets or a
    /// trailing dot: `[::1]:8080` is `::1`, `Example.COM.:443` is `example.com`.
    public static func hostname(ofAuthority authority: String) -> String {
        // Host names are lower case already nearly always: folding them costs a copy.
        let lowerCase = authority.utf8.allSatisfy { $0 < 0x80 && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
        var text = Substring(lowerCase ? authority : authority.lowercased())
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return String(text) }
            return String(text[text.index(after: text.startIndex)..<close])
        }
        if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon { text = text[..<colon] }
        while text.hasSuffix(".") { text = text.dropLast() }
        return String(text)
    }

    /// True for `localhost` (and `*.localhost`), 127.0.0.0/8, `::1` and IPv4-mapped 127.x addresses.
    public static func isLoopback(host: String) -> Bool {
        let name = String(IPAddressRange.trimmingBrackets(host.lowercased()))
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        guard let bytes = bytes(of: name) else { return false }
        if bytes.count == 4 { return bytes[0] == 127 }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
    }

    /// `text` without the `[` and `]` at either end (as `trimmingCharacters(in: "[]")`, without Foundation's character sets).
    static func trimmingBrackets(_ text: String) -> Substring {
        let isBracket: (Character) -> Bool = { $0 == "[" || $0 == "]" }
        var trimmed = Substring(text).drop(while: isBracket)
        while let last = trimmed.last, isBracket(last) { trimmed = trimmed.dropLast() }
        return trimmed
    }

    /// True for the wildcard addresses a server listens on for every interface (`0.0.0.0`, `::`).
    public static func isUnspecified(host: String) -> Bool {
        guard let bytes = bytes(of: String(trimmingBrackets(host))) else { return false }
        return bytes.allSatisfy { $0 == 0 }
    }
}

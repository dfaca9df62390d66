#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// TCP on 127.0.0.1 with POSIX sockets, for the tools around the server (cluster processes, test
/// servers, benchmarks): one place that builds the address, finds a free port, checks a port and
/// connects.
package enum LoopbackSocket {
    /// A new TCP socket (-1 when none could be made); the caller closes it.
    package static func make() -> Int32 {
        #if canImport(Darwin)
        socket(AF_INET, SOCK_STREAM, 0)
        #else
        socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
    }

    /// A port on 127.0.0.1 that nothing listens on now (the kernel's choice); nil if none.
    package static func freePort() -> Int? {
        let descriptor = make()
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = Self.address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        return bound ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }

    /// Whether 127.0.0.1:`port` can be bound now.
    package static func canBind(_ port: Int) -> Bool {
        let descriptor = make()
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return withAddress(port: port) { bind(descriptor, $0, $1) == 0 }
    }

    /// Connects the TCP socket `descriptor` to 127.0.0.1:`port`.
    package static func connect(_ descriptor: Int32, port: Int) -> Bool {
        #if canImport(Darwin)
        withAddress(port: port) { Darwin.connect(descriptor, $0, $1) == 0 }
        #else
        withAddress(port: port) { Glibc.connect(descriptor, $0, $1) == 0 }
        #endif
    }

    private static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }

    private static func withAddress<T>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = address(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}

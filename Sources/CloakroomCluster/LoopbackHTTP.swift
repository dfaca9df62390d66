import CloakroomCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.0 GET to a loopback port, for `cluster status` and `up`'s readiness checks (no
/// HTTP client library needed for a health check and a metrics page).
public enum LoopbackHTTP {
    /// A response: status code and body.
    public struct Response: Sendable {
        public let status: Int
        public let body: String
    }

    /// `GET path` on 127.0.0.1:`port`, giving up after `timeout`; nil when nothing answered.
    public static func get(port: Int, path: String, timeout: Duration = .seconds(1)) async -> Response? {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: blockingGet(port: port, path: path, timeout: timeout))
            }
        }
    }

    /// Connects the TCP socket `descriptor` to 127.0.0.1:`port`.
    static func connectToLoopback(_ descriptor: Int32, port: Int) -> Bool {
        LoopbackSocket.connect(descriptor, port: port)
    }

    /// Whether `received` holds the whole response: its head and Content-Length bytes of body
    /// (a server may keep the connection open even when asked to close it).
    static func isComplete(_ received: [UInt8]) -> Bool {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = received.indices.dropLast(3).first(where: { Array(received[$0..<($0 + 4)]) == separator }) else { return false }
        let head = String(decoding: received[..<end], as: UTF8.self).lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return false }
        return received.count - (end + 4) >= length
    }

    static func blockingGet(port: Int, path: String, timeout: Duration) -> Response? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let seconds = timeout.components.seconds
        var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard connectToLoopback(descriptor, port: port) else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while received.count < 8 * 1024 * 1024 {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
            if Self.isComplete(received) { break }
        }
        let text = String(decoding: received, as: UTF8.self)
        guard text.hasPrefix("HTTP/"), let statusText = text.split(separator: " ", maxSplits: 2).dropFirst().first,
            let status = Int(statusText)
        else { return nil }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return Response(status: status, body: body)
    }
}

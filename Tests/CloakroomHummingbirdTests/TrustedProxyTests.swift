import CloakroomCore
import Hummingbird
import Testing

@testable import CloakroomHummingbird

@Suite("Trusted proxies")
struct TrustedProxyTests {
    @Test("address ranges: IPv4 and IPv6 CIDR blocks, single addresses, IPv4-mapped IPv6")
    func ranges() throws {
        let private10 = try #require(IPAddressRange("10.0.0.0/8"))
        #expect(private10.contains("10.255.1.2"))
        #expect(!private10.contains("11.0.0.1"))
        #expect(private10.contains("::ffff:10.1.2.3"))
        let host = try #require(IPAddressRange("192.168.1.7"))
        #expect(host.contains("192.168.1.7") && !host.contains("192.168.1.8"))
        let v6 = try #require(IPAddressRange("fd00::/8"))
        #expect(v6.contains("fd12:3456::1") && !v6.contains("fe80::1") && !v6.contains("10.0.0.1"))
        let odd = try #require(IPAddressRange("172.16.0.0/12"))
        #expect(odd.contains("172.31.255.255") && !odd.contains("172.32.0.0"))
        for bad in ["", "10.0.0.0/33", "10.0.0.0/-1", "not-an-ip", "10.0.0/8", "::1/129", "1.2.3.4/ 8", "1.2.3.4/8", "fd00::1/8"] {
            #expect(IPAddressRange(bad) == nil, "\(bad)")
        }
    }

    @Test("the client is the rightmost address of X-Forwarded-For that is not a trusted proxy")
    func forwardedChain() throws {
        let middleware = TrustedProxyMiddleware<CloakroomRequestContext>(trusted: [try #require(IPAddressRange("10.0.0.0/8"))])
        #expect(middleware.clientAddress(forwardedFor: ["203.0.113.9"]) == "203.0.113.9")
        // A client that sends its own header cannot choose its address: the proxy appends the
        // real peer, which is what counts.
        #expect(middleware.clientAddress(forwardedFor: ["1.1.1.1, 203.0.113.9"]) == "203.0.113.9")
        #expect(middleware.clientAddress(forwardedFor: ["198.51.100.4, 10.0.0.2"]) == "198.51.100.4", "through two trusted hops")
        #expect(middleware.clientAddress(forwardedFor: ["1.1.1.1", "203.0.113.9"]) == "203.0.113.9", "several header lines")
        #expect(middleware.clientAddress(forwardedFor: ["203.0.113.9, garbage"]) == nil, "malformed: the proxy's own address stands")
        #expect(middleware.clientAddress(forwardedFor: []) == nil)
        #expect(middleware.clientAddress(forwardedFor: ["10.0.0.3"]) == nil, "only trusted hops")
    }
}

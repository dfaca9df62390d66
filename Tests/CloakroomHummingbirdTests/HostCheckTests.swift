import CloakroomCore
import Hummingbird
import Testing

@testable import CloakroomHummingbird

@Suite("Host check (DNS rebinding)")
struct HostCheckTests {
    @Test("host names from authorities: ports, brackets, case and a trailing dot are dropped")
    func hostnames() {
        #expect(IPAddressRange.hostname(ofAuthority: "Example.COM.:443") == "example.com")
        #expect(IPAddressRange.hostname(ofAuthority: "[::1]:8080") == "::1")
        #expect(IPAddressRange.hostname(ofAuthority: "127.0.0.1") == "127.0.0.1")
        #expect(IPAddressRange.hostname(ofAuthority: "::1") == "::1")
    }

    @Test("configured names and loopback pass; anything else does not")
    func allowed() {
        let check = HostCheckMiddleware<BasicRequestContext>(allowedHosts: ["Auth.Example.com", "[2001:db8::5]:443"])
        for host in [
            "auth.example.com", "AUTH.example.com:8443", "auth.example.com.", "[2001:db8::5]", "localhost:8080", "127.0.0.1", "127.3.4.5:1",
            "[::1]:80", "app.localhost",
        ] {
            #expect(check.isAllowed(authority: host), "\(host)")
        }
        for host in ["evil.example", "auth.example.com.evil", "example.com", "0.0.0.0", "[2001:db8::6]", "10.0.0.1", "localhost.evil.example"] {
            #expect(!check.isAllowed(authority: host), "\(host)")
        }
    }
}

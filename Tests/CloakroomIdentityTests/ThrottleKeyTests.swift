import CloakroomCore
import CloakroomTesting
import Crypto
import Foundation
import Testing

@testable import CloakroomIdentity

/// What reaches the throttle store and the audit log: bounded keys, IPv6 networks, a bounded
/// memory store, keyed digests.
@Suite("Throttle keys, IPv6 networks, store bounds, log digests")
struct ThrottleKeyTests {
    let clock = ManualClock()

    func service(_ store: MemoryThrottleStore, key: SymmetricKey = SymmetricKey(size: .bits256)) -> SignInService {
        SignInService(
            accounts: MemoryAccountStore(),
            hasher: PasswordHasher(parameters: ScryptParameters(logN: 4, r: 8, p: 1)),
            throttle: LoginThrottle(store: store, addressPolicy: .init(freeAttempts: 2, lockAfter: 4)),
            clock: clock,
            logDigestKey: key
        )
    }

    @Test("a 64 KiB username becomes a 72-byte store key that does not hold what was typed")
    func hugeUsernameIsBoundedBeforeTheStore() async throws {
        let store = MemoryThrottleStore()
        let typed = "p4ssw0rd-typed-in-the-wrong-field" + String(repeating: "x", count: 65_536)
        await #expect(throws: IdentityError.invalidCredentials()) {
            _ = try await service(store).authenticate(username: typed, password: "irrelevant password", address: "10.0.0.1")
        }
        let keys = await store.storedKeys
        #expect(keys.count == 3, "the account from this source, the account from everywhere, the address")
        #expect(keys.allSatisfy { $0.utf8.count <= 72 }, "\(keys.map(\.utf8.count))")
        #expect(!keys.contains { $0.contains("p4ssw0rd") })
    }

    @Test("every address of one IPv6 /64 counts as one client; another /64 does not")
    func ipv6ClientsAreCountedByNetwork() async throws {
        let store = MemoryThrottleStore()
        let service = service(store)
        for host in 1...4 {
            await #expect(throws: IdentityError.self) {
                _ = try await service.authenticate(username: "user\(host)", password: "wrong password!", address: "2001:db8:7:9::\(host)")
            }
        }
        do {
            _ = try await service.authenticate(username: "fresh", password: "wrong password!", address: "2001:db8:7:9:ffff::99")
            Issue.record("a new address in a locked /64 was not throttled")
        } catch let error as IdentityError {
            #expect(error.code == .throttled, "\(error)")
        }
        do {
            _ = try await service.authenticate(username: "fresh", password: "wrong password!", address: "2001:db8:7:a::1")
        } catch let error as IdentityError {
            #expect(error.code == .invalidCredentials, "another /64 is another client: \(error)")
        }
    }

    @Test("throttle blocks: IPv4 alone, IPv4-mapped as IPv4, IPv6 by prefix, junk cut to 64 bytes")
    func throttleBlocks() {
        #expect(IPAddressRange.throttleBlock(of: "10.1.2.3") == "10.1.2.3")
        #expect(IPAddressRange.throttleBlock(of: "::ffff:10.1.2.3") == "10.1.2.3")
        #expect(IPAddressRange.throttleBlock(of: "2001:db8:0:1:aaaa::1") == "2001:db8:0:1:0:0:0:0/64")
        #expect(IPAddressRange.throttleBlock(of: "2001:db8:0:1:aaaa::1", ipv6PrefixLength: 48) == "2001:db8:0:0:0:0:0:0/48")
        #expect(IPAddressRange.throttleBlock(of: "2001:db8::1", ipv6PrefixLength: 128) == "2001:db8:0:0:0:0:0:1/128")
        #expect(IPAddressRange.throttleBlock(of: String(repeating: "z", count: 500)).utf8.count == 64)
    }

    @Test("the memory throttle holds at most maxEntries counters, keeping the newest")
    func memoryThrottleIsBounded() async throws {
        let store = MemoryThrottleStore(maxEntries: 100)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<1_000 {
            _ = try await store.recordFailure(key: "k\(index)", now: t0.addingTimeInterval(Double(index) / 1000), window: 900)
        }
        #expect(await store.count <= 100)
        #expect(try await store.state(key: "k999", now: t0.addingTimeInterval(1), window: 900)?.failures == 1)
        #expect(try await store.state(key: "k0", now: t0.addingTimeInterval(1), window: 900) == nil)
    }

    @Test("an unknown username is logged as an HMAC under the service's key, not a plain SHA-256")
    func logDigestIsKeyed() {
        let key = SymmetricKey(size: .bits256)
        let one = service(MemoryThrottleStore(), key: key)
        let same = service(MemoryThrottleStore(), key: key)
        let other = service(MemoryThrottleStore())
        let plain = Hex.encode(Array(SHA256.hash(data: Data("alice".utf8))).prefix(8))
        #expect(one.digest("Alice") == same.digest("alice"), "one key, one digest for one normalised name")
        #expect(one.digest("alice") != other.digest("alice"), "another key, another digest")
        #expect(one.digest("alice") != plain, "a dictionary of SHA-256 prefixes must not reverse it")
        #expect(one.digest("alice").count == 16)
    }
}

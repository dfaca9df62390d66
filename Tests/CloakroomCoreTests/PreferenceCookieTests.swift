import CloakroomCore
import Crypto
import Foundation
import Testing

@Suite("Preference cookies")
struct PreferenceCookieTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let ring = SealingKeyRing(.init(SymmetricKey(size: .bits256), id: "p1"))

    @Test("round trip; readable by a script (base64url JSON after 8 bytes); not HttpOnly, Lax, a year")
    func roundTrip() throws {
        let prefs = PreferenceCookie(name: "cloakroom-prefs", ring: ring, secure: true)
        let cookie = try prefs.cookie(["theme": "dark", "lang": "en"], now: now)
        #expect(!cookie.httpOnly && cookie.secure && cookie.sameSite == .lax && cookie.path == "/" && cookie.maxAge == 31_536_000)
        #expect(prefs.read(cookie.value, now: now) == ["theme": "dark", "lang": "en"])
        let parts = cookie.value.split(separator: ".")
        #expect(parts.count == 5 && parts[0] == "s1")
        let payload = try #require(Base64URL.decode(String(parts[3])))
        #expect(String(decoding: payload.dropFirst(8), as: UTF8.self) == #"{"lang":"en","theme":"dark"}"#)
    }

    @Test("altered, renamed, unknown key, expired or garbage: read as no preferences")
    func refusals() throws {
        let prefs = PreferenceCookie(name: "cloakroom-prefs", ring: ring, secure: false)
        let cookie = try prefs.cookie(["theme": "dark"], now: now)
        var parts = cookie.value.split(separator: ".").map(String.init)
        let forged = try #require(Base64URL.decode(parts[3]))
        parts[3] = Base64URL.encode(Array(forged.prefix(8)) + Array(#"{"theme":"light"}"#.utf8))
        #expect(prefs.read(parts.joined(separator: "."), now: now).isEmpty, "a changed payload was trusted")
        #expect(PreferenceCookie(name: "other", ring: ring, secure: false).read(cookie.value, now: now).isEmpty)
        let otherRing = SealingKeyRing(.init(SymmetricKey(size: .bits256), id: "p2"))
        #expect(PreferenceCookie(name: "cloakroom-prefs", ring: otherRing, secure: false).read(cookie.value, now: now).isEmpty)
        #expect(prefs.read(cookie.value, now: now.addingTimeInterval(PreferenceCookie.lifetime + 1)).isEmpty)
        #expect(prefs.read("not a cookie", now: now).isEmpty && prefs.read(nil, now: now).isEmpty)
    }

    @Test("keys and values are checked before anything is signed")
    func validation() {
        let prefs = PreferenceCookie(name: "p", ring: ring, secure: false)
        #expect(throws: SealError.self) { _ = try prefs.cookie(["Theme": "dark"], now: now) }
        #expect(throws: SealError.self) { _ = try prefs.cookie(["theme": String(repeating: "x", count: 65)], now: now) }
        #expect(throws: SealError.self) { _ = try prefs.cookie(["theme": "dark\n"], now: now) }
        #expect(throws: SealError.self) { _ = try prefs.cookie(Dictionary(uniqueKeysWithValues: (0..<17).map { ("k\($0)", "v") }), now: now) }
    }
}

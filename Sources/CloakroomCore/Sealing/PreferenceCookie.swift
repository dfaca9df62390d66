public import Foundation

/// A cookie of small, non-secret preferences (a theme, a language) that the page's own script may
/// read and the server can trust: signed (`Sealer` in `signed` mode, HMAC-SHA-256), not encrypted,
/// and not HttpOnly. A value a script or a person changes is refused on the server's side and read
/// as no preferences at all.
///
/// The value is `s1.{kid}.{name tag}.{payload}.{mac}`; `payload` is base64url of an 8-byte expiry
/// followed by the preferences as a JSON object of strings, so a script reads them by decoding the
/// fourth part and skipping 8 bytes. Keys are 1 to 32 of `a-z 0-9 _`; values at most 64 printable
/// ASCII characters; at most 16 of them.
///
/// What never goes in a cookie like this (security.md): anything secret (it is readable), anything
/// the server decides with (a role, a price, a user ID: signing proves the server wrote it, not that
/// it is still true), and anything large (every request carries it).
public struct PreferenceCookie: Sendable {
    public let name: String
    let sealed: SealedCookie
    let secure: Bool
    /// How long the browser keeps it (a year).
    public static let lifetime: TimeInterval = 365 * 86_400

    /// `name` is the cookie's (`__Host-` prefixed by the caller when `secure`).
    public init(name: String, ring: SealingKeyRing, secure: Bool) {
        self.name = name
        self.sealed = SealedCookie(sealer: Sealer(ring: ring, mode: .signed))
        self.secure = secure
    }

    /// Whether `key` and `value` are a preference this cookie may hold.
    public static func isValid(key: String, value: String) -> Bool {
        (1...32).contains(key.utf8.count)
            && key.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
            && value.utf8.count <= 64 && value.utf8.allSatisfy { (0x20...0x7E).contains($0) }
    }

    /// The cookie holding `preferences`: Path=/, SameSite=Lax, Secure when served over HTTPS, not
    /// HttpOnly (the page's script reads it), kept a year.
    public func cookie(_ preferences: [String: String], now: Date) throws(SealError) -> Cookie {
        guard preferences.count <= 16, preferences.allSatisfy({ Self.isValid(key: $0.key, value: $0.value) }) else {
            throw SealError(.malformed, "preferences are at most 16 keys of a-z 0-9 _ with printable ASCII values of at most 64 characters")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = (try? encoder.encode(preferences)) ?? Data("{}".utf8)
        let template = Cookie(
            name: name,
            value: "",
            maxAge: Int(Self.lifetime),
            path: "/",
            secure: secure,
            httpOnly: false,
            sameSite: .lax
        )
        return try sealed.cookie(template, value: Array(json), expires: now.addingTimeInterval(Self.lifetime))
    }

    /// The preferences a cookie value carries; empty for no cookie, or one that was altered, made
    /// for another name, signed by an unknown key or expired.
    public func read(_ cookieValue: String?, now: Date) -> [String: String] {
        guard let cookieValue, let bytes = try? sealed.open(cookieValue, name: name, now: now),
            let preferences = try? JSONDecoder().decode([String: String].self, from: Data(bytes))
        else { return [:] }
        return preferences.filter { Self.isValid(key: $0.key, value: $0.value) }
    }
}

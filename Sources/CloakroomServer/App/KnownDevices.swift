import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The known-device cookie (OWASP Authentication Cheat Sheet, "device cookies"): set at every
/// successful sign-in in a browser, it lets that browser sign in to that account again without
/// being slowed or locked by failures from anywhere else (``LoginThrottle``).
///
/// The value is `v1.<device ID>.<issued at>.<HMAC-SHA-256>`: a random 128-bit device ID, the Unix
/// time it was issued, and a MAC over both and the normalised username under a key derived from
/// the key-file secret (a random key per process without one: devices are then forgotten at a
/// restart). The username itself is not in the cookie. A cookie is good for one account, for
/// `lifetime` (a year) from its issue; each sign-in issues it again.
struct KnownDevices: Sendable {
    let key: SymmetricKey
    let secure: Bool
    let cookieName: String
    let lifetime: TimeInterval = 365 * 24 * 3600

    /// `__Host-BASE-device` over HTTPS, `BASE-device` on plain-HTTP development.

    /// The device ID the request's cookie proves for `username`; nil when there is none, or it is
    /// forged, expired or issued for another account.
    func device(in request: Request, username: String, now: Date) -> String? {
        guard let value = request.cookie(named: cookieName), value.utf8.count <= 200 else { return nil }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let issued = Int(parts[2]), let mac = Base64URL.decodeCanonical(String(parts[3])) else {
            return nil
        }
        let device = String(parts[1])
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message(device, issued, username), using: key) else { return nil }
        let age = now.timeIntervalSince1970 - Double(issued)
        guard age >= -300, age < lifetime else { return nil }
        return device
    }

    /// The cookie that makes this browser a known device of `username`, keeping its device ID
    /// when it had one.
    func cookie(for username: String, device: String?, now: Date) -> CloakroomCore.Cookie {
        let device = device ?? SecureToken(byteCount: 16).text
        let issued = Int(now.timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(for: message(device, issued, username), using: key)
        return CloakroomCore.Cookie(
            name: cookieName,
            value: "v1.\(device).\(issued).\(Base64URL.encode(Array(mac)))",
            maxAge: Int(lifetime),
            path: "/",
            secure: secure,
            httpOnly: true,
            sameSite: .lax
        )
    }

    /// Adds the cookie for `username` to `response`, keeping `device` (the ID ``device(in:username:now:)``
    /// verified for this account, if any).
    func remember(_ username: String, device: String?, in response: inout Response, now: Date) throws {
        let cookie = cookie(for: username, device: device, now: now)
        response.headers.append(HTTPField(name: .setCookie, value: try cookie.setCookieHeaderValue()))
    }

    private func message(_ device: String, _ issued: Int, _ username: String) -> Data {
        Data("known device v1\u{0}\(device)\u{0}\(issued)\u{0}\(Account.normalize(username))".utf8)
    }
}

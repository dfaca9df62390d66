public import Foundation

/// Cookies whose value is sealed (`Sealer`): signed, or encrypted and authenticated, bound to the
/// cookie's name, with the expiry inside the seal.
///
/// The 4,096-octet limit browsers apply to a cookie's name and value together (RFC 6265bis §5.6)
/// is checked when the cookie is made, before any `Set-Cookie` goes out: a value too large for it
/// is refused (`SealError.tooLarge`, naming both sizes), never a cookie the browser would drop.
public struct SealedCookie: Sendable {
    public let sealer: Sealer

    public init(sealer: Sealer) {
        self.sealer = sealer
    }

    /// `template` (its name, attributes and lifetime) with `value` sealed as its value, expiring
    /// inside the seal at `expires` (the cookie's `Expires`/`Max-Age` are the template's).
    public func cookie(_ template: Cookie, value: [UInt8], expires: Date?) throws(SealError) -> Cookie {
        let sealed = try sealer.seal(value, name: template.name, expires: expires)
        let size = template.name.utf8.count + sealed.utf8.count
        guard size <= Cookie.maximumNameValueLength else {
            throw SealError(
                .tooLarge,
                "cookie \(template.name) would be \(size) octets sealed (\(value.count) of data); browsers keep at most \(Cookie.maximumNameValueLength)"
            )
        }
        var cookie = template
        cookie.value = sealed
        return cookie
    }

    /// The value a cookie named `name` carries, if it was sealed for that name and has not expired.
    public func open(_ cookieValue: String, name: String, now: Date) throws(SealError) -> [UInt8] {
        try sealer.open(cookieValue, name: name, now: now)
    }

    /// The largest value (in bytes) that fits a cookie named `name` sealed in `mode`.
    public static func capacity(name: String, keyID: String, mode: Sealer.Mode) -> Int {
        // {mode}1.{kid}.{6-char tag}. then base64url of the payload (and for signed, ".{43-char MAC}").
        let fixed = name.utf8.count + 3 + keyID.utf8.count + 1 + 6 + 1 + (mode == .signed ? 44 : 0)
        let room = Cookie.maximumNameValueLength - fixed
        let payloadBytes = room * 3 / 4
        let overhead = 8 + (mode == .signed ? 0 : 12 + 16)
        return max(0, payloadBytes - overhead)
    }
}

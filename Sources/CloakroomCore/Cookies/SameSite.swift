/// The value of a cookie's `SameSite` attribute.
///
/// RFC 6265bis section 4.1.2.7 (server side) and 5.6.7 (user agent side). A cookie
/// whose `SameSite` attribute is absent or carries any other value has "Default"
/// enforcement, which this module represents as `nil` wherever a `SameSite?` appears.
public enum SameSite: String, Sendable, Hashable, CaseIterable {
    /// Sent only with same-site requests.
    case strict = "Strict"
    /// Sent with same-site requests and with cross-site top-level navigations that use a safe method.
    case lax = "Lax"
    /// Sent with all requests; RFC 6265bis section 5.7 step 19 requires the cookie to be `Secure`.
    case none = "None"
}

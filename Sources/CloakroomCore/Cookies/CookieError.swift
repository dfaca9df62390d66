/// Why a cookie could not be validated or serialised.
///
/// Thrown by `Cookie.validate()` and `Cookie.setCookieHeaderValue()`. `code` is a
/// stable, machine-readable identifier (for example `"invalid_name"`); `message`
/// is a human-readable explanation that names the rule broken. Neither ever
/// contains the cookie's value, so errors are safe to log.
public struct CookieError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable machine-readable identifier of the violated rule, such as `"invalid_name"`.
    public let code: String
    /// Human-readable description of the problem; never contains the cookie value.
    public let message: String

    /// Creates an error with the given code and message.
    ///
    /// - Parameters:
    ///   - code: Stable machine-readable identifier of the violated rule.
    ///   - message: Human-readable description; must not contain secret material.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// `"<code>: <message>"`.
    public var description: String {
        "\(code): \(message)"
    }
}

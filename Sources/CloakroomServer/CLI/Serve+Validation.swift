import CloakroomCore
import CloakroomHummingbird
import CloakroomSessions
import Foundation

/// The rules `serve` applies to single values (booleans, origins, the issuer) and between values
/// (timeouts that only make sense in one order). Each refusal is a `ConfigurationError` naming the
/// setting and the value, so the server stops at start instead of running with a surprise.
extension Serve {
    /// The words a boolean environment variable may hold, in any case.
    static let trueWords: Set<String> = ["1", "true", "yes", "on"]
    static let falseWords: Set<String> = ["0", "false", "no", "off"]

    /// A boolean environment variable: unset is `false`; `1/true/yes/on` and `0/false/no/off` in any
    /// case; anything else (a typo, `maybe`, an empty value) is refused rather than read as off.
    static func boolean(_ name: String, _ environment: [String: String]) throws -> Bool {
        guard let text = environment[name] else { return false }
        let word = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trueWords.contains(word) { return true }
        if falseWords.contains(word) { return false }
        throw ConfigurationError("\(name)=\(text) is not a boolean: use 1, true, yes, on or 0, false, no, off")
    }

    /// `CLOAKROOM_REGISTRATION`: `open` or `closed`, in any case; unset is open. Anything else is
    /// refused: a misspelt `CLOSED` must not leave registration open.
    static func registrationOpen(_ environment: [String: String]) throws -> Bool {
        guard let text = environment["CLOAKROOM_REGISTRATION"] else { return true }
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "open": return true
        case "closed": return false
        default: throw ConfigurationError("CLOAKROOM_REGISTRATION=\(text) is not open or closed")
        }
    }

    /// An allowed origin as browsers serialize it in `Origin` (RFC 6454 section 6.2):
    /// `http` or `https`, `://`, a host, an optional port, and nothing else (no path, not even
    /// `/`, no query, no user). The default port is refused too: `https://example.com:443` would
    /// never equal the `Origin` a browser sends. Returned lowercased, as it is compared.
    static func origin(_ text: String) throws -> String {
        func refuse(_ why: String) -> ConfigurationError {
            ConfigurationError("allowed origin \(text) is not an origin (scheme://host[:port], http or https, e.g. https://app.example.com): \(why)")
        }
        let lowered = text.lowercased()
        let scheme: String
        if lowered.hasPrefix("https://") {
            scheme = "https"
        } else if lowered.hasPrefix("http://") {
            scheme = "http"
        } else {
            throw refuse("it must start with http:// or https://")
        }
        let authority = lowered.dropFirst(scheme.count + 3)
        if let extra = authority.firstIndex(where: { "/?#".contains($0) }) {
            throw refuse(authority[extra...] == "/" ? "drop the trailing /" : "an origin has no path, query or fragment")
        }
        guard !authority.contains("@") else { throw refuse("an origin has no user name or password") }
        var host = Substring(authority)
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw refuse("an IPv6 address needs its closing ]") }
            let address = host[host.index(after: host.startIndex)..<close]
            guard !address.isEmpty, address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw refuse("\(address) is not an IPv6 address")
            }
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw refuse("only :PORT may follow the host") }
                port = rest.dropFirst()
            }
            host = host[...close]
        } else {
            if let colon = host.firstIndex(of: ":") {
                port = host[host.index(after: colon)...]
                host = host[..<colon]
            }
            let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
            guard !host.isEmpty, host.allSatisfy({ allowed.contains($0) }), !host.hasPrefix("."), !host.hasPrefix("-") else {
                throw refuse("the host must be a name or address of letters, digits, dots and hyphens")
            }
        }
        if let port {
            guard !port.isEmpty, port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber), port.count <= 5,
                let number = Int(port), (1...65535).contains(number)
            else {
                throw refuse("the port must be a number from 1 to 65535")
            }
            guard number != (scheme == "https" ? 443 : 80) else {
                throw refuse("drop the default port :\(number), browsers leave it out of Origin")
            }
        }
        return lowered
    }

    /// The issuer (`iss`): an absolute `http` or `https` URL with a host and without query,
    /// fragment or user, as RFC 8414 section 2 describes an authorization server's issuer
    /// identifier (`https` there; `http` is accepted for local development).
    static func issuer(_ text: String) throws -> String {
        func refuse(_ why: String) -> ConfigurationError {
            ConfigurationError("issuer \(text) is not usable: \(why); give the server's public URL, e.g. https://auth.example.com")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw refuse("it is not a URL")
        }
        guard scheme == "http" || scheme == "https" else { throw refuse("the scheme must be http or https") }
        guard let host = components.host, !host.isEmpty, text.contains("://") else { throw refuse("it has no host") }
        guard components.query == nil, components.fragment == nil else { throw refuse("an issuer has no query (?) or fragment (#)") }
        guard components.user == nil, components.password == nil else { throw refuse("an issuer has no user name or password") }
        return text
    }

    /// Which timeouts were given (by flag or environment) rather than left at their defaults.
    struct GivenTimes {
        var idleTimeout = false
        var absoluteLifetime = false
        var touchInterval = false
        var refreshIdle = false
        var refreshLifetime = false
    }

    /// Checks the timeouts against each other. A value the operator gave that contradicts another
    /// is refused; a default that would contradict a given value gives way (the default idle
    /// timeout is capped at the absolute lifetime, the default touch interval at half the idle
    /// timeout, the default refresh idle lifetime at the refresh lifetime).
    /// Plain HTTP is for loopback: on any other address, cookies without `Secure` and pages
    /// without HSTS would cross a network. Such a start is refused unless `--secure` (HTTPS in
    /// front) or `--insecure-http` (an explicit choice) says otherwise.
    static func checkTransport(_ config: ServerConfiguration) throws {
        if config.hstsIncludeSubdomains && !config.cookie.secure {
            throw ConfigurationError("--hsts-include-subdomains needs --secure: HSTS is sent only over HTTPS")
        }
        if IPAddressRange.isUnspecified(host: config.host), config.tokens.issuer == nil, config.allowedOrigins.isEmpty, config.allowedHosts.isEmpty {
            throw ConfigurationError(
                "host \(config.host) listens on every address, so the names clients use must be given: --issuer https://auth.example.com "
                    + "(or --allowed-origin, --allowed-host); requests for other names get 421 (DNS rebinding)"
            )
        }
        guard !config.cookie.secure, !config.insecureHTTP, !isLoopback(config.host) else { return }
        throw ConfigurationError(
            "host \(config.host) is not a loopback address, and without --secure cookies would travel without Secure and pages without HSTS: "
                + "serve behind HTTPS with --secure, or pass --insecure-http (CLOAKROOM_INSECURE_HTTP=1) to accept plain HTTP on this address"
        )
    }

    /// `localhost`, 127.0.0.0/8, `::1` (and its IPv4-mapped forms).
    static func isLoopback(_ host: String) -> Bool { IPAddressRange.isLoopback(host: host) }

    static func checkTimes(_ config: inout ServerConfiguration, given: GivenTimes) throws {
        func label(_ seconds: TimeInterval, _ given: Bool) -> String {
            given ? duration(seconds) : "\(duration(seconds)) (the default)"
        }
        var sessions = config.sessions
        var idleCapped = false
        if sessions.idleTimeout > sessions.absoluteLifetime {
            guard !given.idleTimeout else {
                throw ConfigurationError(
                    "idle timeout \(duration(sessions.idleTimeout)) is longer than the absolute lifetime \(label(sessions.absoluteLifetime, given.absoluteLifetime)): "
                        + "every session would end before it could go idle; give an idle timeout of at most the absolute lifetime"
                )
            }
            sessions.idleTimeout = sessions.absoluteLifetime
            idleCapped = true
        }
        // The idle deadline moves only when last-seen is written, at most once per touch
        // interval: an interval close to the timeout signs out users who are active.
        if sessions.touchInterval > sessions.idleTimeout / 2 {
            guard !given.touchInterval else {
                let idle =
                    idleCapped
                    ? "\(duration(sessions.idleTimeout)) (the default, capped at the absolute lifetime)"
                    : label(sessions.idleTimeout, given.idleTimeout)
                throw ConfigurationError(
                    "touch interval \(duration(sessions.touchInterval)) must be at most half the idle timeout \(idle): "
                        + "last-seen is written at most once per touch interval, so active users would be signed out"
                )
            }
            sessions.touchInterval = sessions.idleTimeout / 2
        }
        config.sessions = sessions
        var tokens = config.tokens
        if tokens.refreshIdleLifetime > tokens.refreshAbsoluteLifetime {
            guard !given.refreshIdle else {
                throw ConfigurationError(
                    "refresh token idle lifetime \(duration(tokens.refreshIdleLifetime)) is longer than the refresh token lifetime "
                        + "\(label(tokens.refreshAbsoluteLifetime, given.refreshLifetime)): a sign-in ends at its lifetime however recently it was used; "
                        + "give an idle lifetime of at most the lifetime"
                )
            }
            tokens.refreshIdleLifetime = tokens.refreshAbsoluteLifetime
        }
        config.tokens = tokens
    }

    /// Seconds as the operator writes them: `45s`, `30m`, `12h`, `14d`, or `90s` when no larger
    /// unit divides them.
    static func duration(_ seconds: TimeInterval) -> String {
        guard seconds == seconds.rounded() else { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds)
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] where whole >= size && whole % size == 0 {
            return "\(whole / size)\(unit)"
        }
        return "\(whole)s"
    }
}

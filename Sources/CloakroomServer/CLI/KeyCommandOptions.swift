import ArgumentParser
import CloakroomCore
import CloakroomTokens
import Foundation
import Logging

/// How long a key retired by a command keeps verifying after it stops signing: the ring's
/// `maxTokenLifetime + leeway`, read from the same settings as `serve` so the CLI and the server
/// agree.
struct RetirementOptions: ParsableArguments {
    @Option(
        help:
            "Longest lifetime of the tokens the server issues; a retired key keeps verifying this long plus --leeway. Env CLOAKROOM_ACCESS_TOKEN_LIFETIME (as for serve). Default 10m"
    )
    var maxTokenLifetime: String?
    @Option(
        help: "The verifiers' clock-skew leeway, added to a retired key's verification period. Env CLOAKROOM_TOKEN_LEEWAY (as for serve). Default 30s"
    )
    var leeway: String?

    func validate() throws {
        _ = try values(environment: ProcessInfo.processInfo.environment)
    }

    func values(environment: [String: String]) throws -> (lifetime: TimeInterval, leeway: TimeInterval) {
        let reader = SettingReader(environment: environment)
        let lifetimeText = reader.text(flag: maxTokenLifetime, variable: "CLOAKROOM_ACCESS_TOKEN_LIFETIME") ?? "10m"
        guard let lifetime = DurationText.seconds(lifetimeText), lifetime > 0 else {
            throw ValidationError(
                "max token lifetime \(lifetimeText) is not a duration: use seconds or a suffix, e.g. 600, 10m (\(DurationText.limitText))"
            )
        }
        let leewayText = reader.text(flag: leeway, variable: "CLOAKROOM_TOKEN_LEEWAY") ?? "30s"
        guard let leewaySeconds = DurationText.seconds(leewayText) else {
            throw ValidationError("leeway \(leewayText) is not a duration: use seconds or a suffix, e.g. 30s (\(DurationText.limitText))")
        }
        return (TimeInterval(lifetime), TimeInterval(leewaySeconds))
    }
}

/// When a key added by `generate`, `rotate` or `import --activate` starts signing.
///
/// By default 6 minutes after the command: every verifier that caches the JWK Set (`max-age`
/// 5 minutes) has fetched it with the new key by then, and every server has loaded the key file.
struct ActivationOptions: ParsableArguments {
    @Option(
        help:
            "How long the new key is published before it signs, e.g. 6m, 90s. Below 5m30s, verifiers that cache the JWKS (max-age 5m) may refuse its first tokens. Default 6m"
    )
    var activateIn: String?
    @Flag(
        help:
            "Sign with the new key at once (emergency, e.g. after a compromise): verifiers that cached the JWKS may refuse new tokens for up to 5 minutes"
    )
    var now = false

    /// True when either option was given.
    var isGiven: Bool { activateIn != nil || now }

    func validate() throws {
        if now, activateIn != nil {
            throw ValidationError("--now and --activate-in contradict each other: give one")
        }
        if let activateIn, DurationText.seconds(activateIn) == nil {
            throw ValidationError(
                "activation delay \(activateIn) is not a duration: use seconds or a suffix, e.g. 360, 6m (\(DurationText.limitText))"
            )
        }
    }

    /// Seconds until the new key signs: 0 with --now, else --activate-in, else the ring's default (6 minutes).
    var delay: TimeInterval {
        if now { return 0 }
        return activateIn.flatMap(DurationText.seconds).map(TimeInterval.init) ?? TokenKeyRing.Configuration().activationDelay
    }

    /// The shortest delay after which no verifier caching the JWK Set meets an unknown kid.
    static var safeDelay: TimeInterval {
        TokenKeyRing.jwksMaxAge + TokenKeyRing.Configuration().keyFilePickup
    }
}

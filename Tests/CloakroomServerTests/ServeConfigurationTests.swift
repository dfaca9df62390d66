import ArgumentParser
import CloakroomCore
import CloakroomHummingbird
import CloakroomIdentity
import CloakroomReplication
import CloakroomSessions
import Foundation
import Testing

@testable import CloakroomServer

/// `serve`'s flags and environment variables: the values it refuses, and the ones it accepts.
@Suite("serve configuration")
struct ServeConfigurationTests {
    func configuration(_ arguments: [String] = [], _ environment: [String: String] = [:]) throws -> ServerConfiguration {
        try Serve.parse(arguments).configuration(environment: environment)
    }

    /// Why `serve` refuses these flags and environment: a bad flag is refused while parsing
    /// (`Serve.validate()`), a bad environment value by `configuration(environment:)`.
    func refusal(_ arguments: [String] = [], _ environment: [String: String] = [:]) -> String? {
        do {
            _ = try configuration(arguments, environment)
            return nil
        } catch let error as ConfigurationError {
            return error.description
        } catch {
            return Serve.message(for: error)
        }
    }

    @Test("the common-password list: the shipped one by default, a file of the same format, or off; a missing or foreign file is refused")
    func commonPasswordList() throws {
        #expect(try configuration().commonPasswords?.entryCount == CommonPasswordList.shipped?.entryCount)
        #expect(try configuration(["--common-password-list", "off"]).commonPasswords == nil)
        #expect(try configuration([], ["CLOAKROOM_COMMON_PASSWORD_LIST": "OFF"]).commonPasswordsOff)
        #expect(refusal(["--common-password-list", "/nonexistent/list.bloom"])?.contains("cannot read the common-password list") == true)
        let foreign = FileManager.default.temporaryDirectory.appendingPathComponent("foreign-\(UUID().uuidString).txt")
        try Data("password\n123456\n".utf8).write(to: foreign)
        defer { try? FileManager.default.removeItem(at: foreign) }
        #expect(refusal(["--common-password-list", foreign.path])?.contains("not a common-password list") == true)
    }

    @Test("store URLs in logs and messages hide a password in the user part and in the query")
    func storeURLRedaction() {
        let cases = [
            "postgres://app:hunter2@db.example/app?sslmode=require",
            "postgres://app@db.example/app?sslmode=require&password=hunter2",
            "postgres://app@db.example/app?PASSWORD=hunter2#frag",
            "redis://:hunter2@cache.example:6379/0",
            "postgres://app@db.example/app?sslpassword=hunter2&sslmode=verify-full",
            // A password holding '@', and a lone secret without a user (review findings).
            "redis-sentinel://:hun@hunter2@cache.example:26379/svc",
            "redis-sentinel://hunter2@cache.example/svc",
            "redis-cluster://app:hunter2@cache.example:7000,cache.example:7001",
        ]
        for url in cases {
            let shown = StoreLocation.redacted(url)
            #expect(!shown.contains("hunter2"), "\(shown)")
            #expect(shown.contains("db.example") || shown.contains("cache.example"), "\(shown)")
        }
        #expect(StoreLocation.redacted("postgres://app@db/app?sslmode=require") == "postgres://app@db/app?sslmode=require")
    }

    @Test("replication: all or backup with peers, a secret file, a port and shared accounts; anything missing or misplaced is refused")
    func replication() throws {
        let complete = [
            "--replication", "all", "--peer", "127.0.0.1:7002", "--peer", "10.0.0.3:7003", "--cluster-secret-file", "/etc/cloakroom/secret",
            "--replication-port", "7001", "--node-name", "node1", "--accounts", "sqlite:/srv/accounts.sqlite",
        ]
        let replication = try #require(try configuration(complete).replication)
        #expect(replication.peers.map(\.description) == ["127.0.0.1:7002", "10.0.0.3:7003"])
        #expect(replication.port == 7001 && replication.nodeName == "node1" && replication.secretFile == "/etc/cloakroom/secret")
        // The same from the environment.
        let fromEnvironment = try configuration(
            [],
            [
                "CLOAKROOM_REPLICATION": "all", "CLOAKROOM_PEERS": "127.0.0.1:7002, 127.0.0.1:7003", "CLOAKROOM_CLUSTER_SECRET_FILE": "/s",
                "CLOAKROOM_REPLICATION_PORT": "7001", "CLOAKROOM_ACCOUNTS": "postgres://app@db/app",
            ]
        )
        #expect(fromEnvironment.replication?.peers.count == 2)
        #expect(try configuration().replication == nil)
        func without(_ flag: String) -> [String] {
            guard let index = complete.firstIndex(of: flag) else { return complete }
            var copy = complete
            copy.removeSubrange(index...(index + 1))
            return copy
        }
        #expect(refusal(without("--cluster-secret-file"))?.contains("--cluster-secret-file") == true)
        #expect(refusal(without("--replication-port"))?.contains("--replication-port") == true)
        #expect(refusal(without("--accounts"))?.contains("--accounts shared") == true)
        #expect(refusal(complete + ["--store", "redis://cache/0"])?.contains("own memory") == true)
        #expect(refusal(without("--replication"))?.contains("need --replication all or backup") == true)
        #expect(refusal(["--replication", "both"])?.contains("is not all or backup") == true)
        // backup: the same requirements; and how long acknowledged writes wait.
        var backup = complete
        backup[try #require(backup.firstIndex(of: "all"))] = "backup"
        let primaryBackup = try #require(try configuration(backup + ["--replication-ack-timeout", "3s"]).replication)
        #expect(primaryBackup.mode == .backup && primaryBackup.ackTimeout == 3)
        #expect(try configuration(complete).replication?.mode == .all)
        #expect(refusal(backup + ["--replication-ack-timeout", "2m"])?.contains("over 60s") == true)
        #expect(refusal(["--replication-ack-timeout", "2s"])?.contains("need --replication all or backup") == true)
        #expect(refusal(["--replication", "all", "--peer", "nohost"])?.contains("HOST:PORT") == true)
    }

    @Test("the throttle's IPv6 prefix: 64 by default, 32 to 128 from the flag or the variable")
    func throttleIPv6Prefix() throws {
        #expect(try configuration().throttleIPv6Prefix == 64)
        #expect(try configuration(["--throttle-ipv6-prefix", "56"]).throttleIPv6Prefix == 56)
        #expect(try configuration([], ["CLOAKROOM_THROTTLE_IPV6_PREFIX": "48"]).throttleIPv6Prefix == 48)
        for bad in ["16", "129", "sixty-four"] {
            #expect(refusal([], ["CLOAKROOM_THROTTLE_IPV6_PREFIX": bad])?.contains("throttle IPv6 prefix") == true, "\(bad)")
        }
    }

    @Test("who may read /metrics: loopback by default, CIDR blocks or any from the flag or the variable")
    func metricsFrom() throws {
        #expect(try configuration().metricsFrom.map(\.description) == ["127.0.0.0/8", "::1"])
        #expect(try configuration(["--metrics-from", "10.0.0.0/8", "--metrics-from", "::1"]).metricsFrom.count == 2)
        let any = try configuration([], ["CLOAKROOM_METRICS_FROM": "any"]).metricsFrom
        #expect(any.contains { $0.contains("198.51.100.7") } && any.contains { $0.contains("2001:db8::1") })
        #expect(refusal(["--metrics-from", "everyone"])?.contains("metrics client everyone") == true)
    }

    @Test("plain HTTP off loopback is refused unless --secure or --insecure-http says so")
    func plainHTTPOffLoopback() throws {
        for host in ["0.0.0.0", "192.0.2.10", "::", "2001:db8::1", "example.com"] {
            // Listening everywhere also needs the names clients use (the Host check).
            let names = ["0.0.0.0", "::"].contains(host) ? ["--allowed-host", "auth.example.com"] : []
            let refused = refusal(["--host", host] + names)
            #expect(refused?.contains("--insecure-http") == true, "\(host): \(refused ?? "accepted")")
            #expect(try configuration(["--host", host, "--secure"] + names).host == host)
            #expect(try configuration(["--host", host, "--insecure-http"] + names).insecureHTTP)
            #expect(try configuration(names, ["CLOAKROOM_HOST": host, "CLOAKROOM_INSECURE_HTTP": "yes"]).insecureHTTP)
        }
        for host in ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"] {
            #expect(refusal(["--host", host]) == nil, "\(host) is loopback")
        }
        #expect(refusal([], ["CLOAKROOM_HOST": "192.0.2.1"])?.contains("not a loopback address") == true)
        #expect(refusal(["--host", "0.0.0.0", "--secure"])?.contains("listens on every address") == true)
        #expect(try configuration(["--host", "::", "--secure", "--issuer", "https://auth.example.com"]).hostsServed == ["auth.example.com"])
        #expect(refusal(["--allowed-host", "user@evil"])?.contains("is not a host name") == true)
        #expect(refusal(["--hsts-include-subdomains"])?.contains("needs --secure") == true)
        #expect(try configuration(["--secure", "--hsts-include-subdomains"]).hstsIncludeSubdomains)
    }

    // MARK: Timeouts against each other

    @Test func aTouchIntervalAboveHalfTheIdleTimeoutIsRefused() throws {
        let message = try #require(refusal(["--idle-timeout", "4s", "--touch-interval", "10s"]))
        #expect(message.contains("touch interval 10s must be at most half the idle timeout 4s"))
        #expect(refusal(["--idle-timeout", "30m", "--touch-interval", "1h"])?.contains("touch interval 1h") == true)
        #expect(refusal(["--idle-timeout", "30m", "--touch-interval", "901"]) != nil)
        #expect(refusal([], ["CLOAKROOM_IDLE_TIMEOUT": "30m", "CLOAKROOM_TOUCH_INTERVAL": "20m"]) != nil)
        #expect(refusal(["--touch-interval", "20m"])?.contains("idle timeout 30m (the default)") == true)
        #expect(refusal(["--absolute-lifetime", "1m", "--touch-interval", "60s"])?.contains("capped at the absolute lifetime") == true)
        #expect(try configuration(["--idle-timeout", "30m", "--touch-interval", "15m"]).sessions.touchInterval == 900)
    }

    @Test func theDefaultTouchIntervalGivesWayToAShortIdleTimeout() throws {
        #expect(try configuration(["--idle-timeout", "5s"]).sessions.touchInterval == 2.5)
        #expect(try configuration(["--idle-timeout", "2m"]).sessions.touchInterval == 60)
        #expect(try configuration().sessions.touchInterval == 60)
    }

    @Test func anIdleTimeoutLongerThanTheAbsoluteLifetimeIsRefused() throws {
        let message = try #require(refusal(["--absolute-lifetime", "1m", "--idle-timeout", "30m"]))
        #expect(message.contains("idle timeout 30m is longer than the absolute lifetime 1m"))
        #expect(refusal(["--idle-timeout", "24h"])?.contains("absolute lifetime 12h (the default)") == true)
        // The default idle timeout gives way to a short absolute lifetime, as before.
        let config = try configuration(["--absolute-lifetime", "10m"])
        #expect(config.sessions.idleTimeout == 600)
        #expect(config.sessions.touchInterval == 60)
        #expect(try configuration(["--absolute-lifetime", "30m", "--idle-timeout", "30m"]).sessions.idleTimeout == 1800)
    }

    @Test func aRefreshIdleLifetimeLongerThanTheRefreshLifetimeIsRefused() throws {
        let message = try #require(refusal(["--refresh-token-idle", "60d", "--refresh-token-lifetime", "30d"]))
        #expect(message.contains("refresh token idle lifetime 60d is longer than the refresh token lifetime 30d"))
        #expect(refusal(["--refresh-token-idle", "60d"])?.contains("30d (the default)") == true)
        #expect(refusal([], ["CLOAKROOM_REFRESH_TOKEN_IDLE": "31d"]) != nil)
        let config = try configuration(["--refresh-token-lifetime", "7d"])
        #expect(config.tokens.refreshIdleLifetime == 7 * 86_400)
    }

    // MARK: Booleans

    @Test(arguments: ["1", "true", "TRUE", "Yes", "on", "ON"])
    func trueWordsTurnFlagsOn(word: String) throws {
        let config = try configuration([], ["CLOAKROOM_SECURE": word, "CLOAKROOM_BROWSER_SESSION_COOKIE": word])
        #expect(config.cookie.secure)
        #expect(!config.sessions.persistentCookie)
    }

    @Test(arguments: ["0", "false", "False", "NO", "off"])
    func falseWordsLeaveFlagsOff(word: String) throws {
        let config = try configuration([], ["CLOAKROOM_SECURE": word, "CLOAKROOM_BROWSER_SESSION_COOKIE": word])
        #expect(!config.cookie.secure)
        #expect(config.sessions.persistentCookie)
    }

    @Test(arguments: ["maybe", "", "enabled", "2", "y"])
    func otherWordsAreRefused(word: String) throws {
        let secure = try #require(refusal([], ["CLOAKROOM_SECURE": word]))
        #expect(secure.contains("CLOAKROOM_SECURE=\(word) is not a boolean"))
        let cookie = try #require(refusal([], ["CLOAKROOM_BROWSER_SESSION_COOKIE": word]))
        #expect(cookie.contains("CLOAKROOM_BROWSER_SESSION_COOKIE=\(word)"))
    }

    @Test func registrationIsOpenOrClosedInAnyCase() throws {
        #expect(try configuration().registrationOpen)
        #expect(try !configuration([], ["CLOAKROOM_REGISTRATION": "CLOSED"]).registrationOpen)
        #expect(try !configuration([], ["CLOAKROOM_REGISTRATION": "Closed"]).registrationOpen)
        #expect(try configuration([], ["CLOAKROOM_REGISTRATION": "OPEN"]).registrationOpen)
        #expect(try !configuration(["--close-registration"], ["CLOAKROOM_REGISTRATION": "open"]).registrationOpen)
        for word in ["shut", "yes", "1", "close", ""] {
            #expect(
                refusal([], ["CLOAKROOM_REGISTRATION": word])?.contains("CLOAKROOM_REGISTRATION=\(word) is not open or closed") == true,
                "\(word)"
            )
        }
    }

    // MARK: Origins and issuer

    @Test(arguments: [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.com:8443", "https://app.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ])
    func originsAreAcceptedAsBrowsersSendThem(text: String, stored: String) throws {
        #expect(try configuration(["--allowed-origin", text]).allowedOrigins == [stored])
    }

    @Test(arguments: [
        "not a url", "junk", "app.example.com", "ftp://app.example.com", "https://", "https://app.example.com/",
        "https://app.example.com/path", "https://app.example.com?x", "https://app.example.com#x", "https://u:p@app.example.com",
        "https://app.example.com:0", "https://app.example.com:99999", "https://app.example.com:", "https://app.example.com:443",
        "http://app.example.com:80", "https://app example.com", "https://[::1", "null", "*",
    ])
    func nonOriginsAreRefused(text: String) throws {
        let message = try #require(refusal(["--allowed-origin", text]))
        #expect(message.hasPrefix("allowed origin \(text) is not an origin"))
    }

    @Test func originsFromTheEnvironmentAreCheckedOneByOne() throws {
        let config = try configuration([], ["CLOAKROOM_ALLOWED_ORIGINS": "https://a.example.com, http://localhost:3000,"])
        #expect(config.allowedOrigins == ["https://a.example.com", "http://localhost:3000"])
        #expect(refusal([], ["CLOAKROOM_ALLOWED_ORIGINS": "https://a.example.com,junk"])?.contains("allowed origin junk") == true)
    }

    @Test func theIssuerIsAnAbsoluteHTTPURLWithoutQueryOrFragment() throws {
        #expect(try configuration(["--issuer", "https://auth.example.com"]).issuer == "https://auth.example.com")
        #expect(try configuration([], ["CLOAKROOM_ISSUER": "https://auth.example.com/tenant/1"]).issuer == "https://auth.example.com/tenant/1")
        #expect(try configuration(["--issuer", "http://localhost:8080"]).issuer == "http://localhost:8080")
        for text in [
            "notaurl", "auth.example.com", "ftp://auth.example.com", "https://auth.example.com/?tenant=1",
            "https://auth.example.com/#x", "https://user@auth.example.com", "https:///path", "/relative",
        ] {
            #expect(refusal(["--issuer", text])?.hasPrefix("issuer \(text) is not usable") == true, "\(text)")
        }
        #expect(refusal([], ["CLOAKROOM_ISSUER": "notaurl"]) != nil)
    }

    // MARK: Usage errors against runtime failures

    @Test func serveChecksItsConfigurationWhileParsing() {
        // A bad value is a ValidationError of `serve` (exit status 64 with its usage).
        #expect(throws: (any Error).self) { try Serve.parse(["--idle-timeout", "4s", "--touch-interval", "10s"]) }
        #expect(Serve.exitCode(for: ValidationError("x")) == .validationFailure)
    }

    @Test func runtimeFailuresAreOneErrorLineNotUsage() {
        // Printed as `error: …` with exit status 1 by CloakroomCommand.main().
        #expect(CommandFailure.message(for: CommandFailure("no account named nobodyx")) == "no account named nobodyx")
        #expect(CommandFailure.message(for: IdentityError.usernameTaken()) == "that username is already registered")
        #expect(CommandFailure.message(for: ConfigurationError("no password on standard input")) == "no password on standard input")
        // Left to swift-argument-parser: usage (64) and chosen exit codes.
        for error: any Error in [ValidationError("bad flag"), ExitCode(3), CleanExit.message("done")] {
            #expect(CommandFailure.message(for: error) == nil, "\(error)")
        }
    }
}

import ArgumentParser
import CloakroomCore
import CloakroomTokens
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `cloakroom token`: look inside an access token, or verify it as a resource server would.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect access tokens: decode (no verification) or verify against a JWK Set.",
        subcommands: [Decode.self, Verify.self]
    )

    struct Decode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a token's header and claims WITHOUT verifying it.",
            discussion: """
                Shows what anyone holding the token can read: a signed token (JWS) is not encrypted. \
                Nothing printed is trustworthy until `cloakroom token verify` accepts the token. \
                Exit status 1 for input that is not a JWS in compact form.
                """
        )
        @Argument(help: "The token (header.payload.signature), or - to read it from stdin") var token: String

        func run() throws {
            let text = try TokenInput.read(token)
            let decoded: UnverifiedToken
            do {
                decoded = try TokenVerifier.decode(text)
            } catch {
                throw TokenInput.notJWS(text, error)
            }
            print(UnverifiedToken.notice)
            print("header:")
            print(decoded.headerJSON)
            if let json = decoded.payloadJSON {
                print("claims:")
                print(json)
                for line in TokenInput.timeLines(decoded.payload, now: Date()) { print(line) }
            } else if let text = decoded.payloadText {
                print("payload (not JSON):")
                print(text)
            } else {
                print("payload: \(decoded.payload.count) bytes, not text")
            }
            print("signature: \(decoded.signature.count) bytes, alg \(decoded.algorithm ?? "(none)"), kid \(decoded.kid ?? "(none)"): NOT checked")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a token as the server does, with the keys of a JWK Set file or URL.",
            discussion: """
                Checks, in order: size and compact form; header rules (no alg none, no jwk/jku/x5u/x5c, no \
                crit); typ at+jwt; the key named by kid and its one algorithm; the signature; then iss \
                (--iss), aud (--aud), exp, nbf and iat with --leeway. --aud and --iss are required: a \
                token is valid only for an audience and from an issuer. --signature-only checks the header \
                rules and the signature and nothing else (no typ, no claims, not even exp), and says so.

                The keys come only from --jwks: a file, or an http(s) URL fetched once with a timeout; \
                jku/x5u in a token are never followed.

                Prints "valid" and the claims, or "invalid: CODE: message". Exit status 0 only for a valid \
                token; 1 for a refused token or keys that cannot be loaded; 64 for usage errors.
                """
        )
        @Option(help: "JWK Set (or one JWK) to verify with: a file, or an http(s) URL")
        var jwks: String
        @Option(help: "The audience the token must be for (aud must contain it). Required unless --signature-only")
        var aud: String?
        @Option(help: "The issuer the token must come from (iss). Required unless --signature-only")
        var iss: String?
        @Flag(help: "Check only the header rules and the signature: typ, exp, nbf, iat, iss and aud are NOT checked")
        var signatureOnly = false
        @Option(help: "Clock skew allowed for exp, nbf and iat (e.g. 30s). Default 30s")
        var leeway: String?
        @Option(help: "Algorithm for keys in the JWK Set that have no alg (RSA and oct keys need one)")
        var algorithm: String?
        @Option(help: "Timeout for fetching a JWK Set URL. Default 10s")
        var timeout = "10s"
        @Argument(help: "The token, or - to read it from stdin") var token: String

        func validate() throws {
            if signatureOnly {
                if aud != nil || iss != nil || leeway != nil {
                    throw ValidationError("--signature-only checks no claims: drop --aud, --iss and --leeway, or drop --signature-only")
                }
            } else if aud == nil || iss == nil {
                throw ValidationError(
                    "give --aud and --iss (the audience the token must be for and its issuer), as the server checks them; or --signature-only to check only the signature"
                )
            }
            _ = try leewaySeconds()
            _ = try timeoutSeconds()
            if let algorithm { _ = try KeyRingTool.anyAlgorithm(algorithm) }
            if jwks.contains("://"), !(jwks.hasPrefix("http://") || jwks.hasPrefix("https://")) {
                throw ValidationError("--jwks \(jwks): only http:// and https:// URLs can be fetched; give a file path otherwise")
            }
        }

        func leewaySeconds() throws -> TimeInterval {
            guard let leeway else { return 30 }
            guard let seconds = DurationText.seconds(leeway) else {
                throw ValidationError("leeway \(leeway) is not a duration: use seconds or a suffix, e.g. 30s (\(DurationText.limitText))")
            }
            return TimeInterval(seconds)
        }

        func timeoutSeconds() throws -> TimeInterval {
            guard let seconds = DurationText.seconds(timeout), seconds > 0 else {
                throw ValidationError("timeout \(timeout) is not a duration: use seconds or a suffix, e.g. 10s (\(DurationText.limitText))")
            }
            return TimeInterval(seconds)
        }

        func run() async throws {
            let text = try TokenInput.read(token)
            let requested = try algorithm.map(KeyRingTool.anyAlgorithm)
            let keys: VerificationKeySet
            do {
                keys = try await VerificationKeySet.load(jwkJSON: try await loadJWKS(), algorithm: requested)
            } catch let error as TokenKeyError {
                throw KeyRingTool.failure("the JWK Set from \(jwks) cannot be used: \(error.code.rawValue): \(error.message)")
            }
            if signatureOnly {
                do {
                    let verified = try await JWSVerifier(keys: keys).verifySignatureOnly(text)
                    print("valid signature (--signature-only: typ, exp, nbf, iat, iss and aud were NOT checked)")
                    print("kid \(verified.kid ?? "(none)"), alg \(verified.algorithm.name)")
                    let decoded = try? TokenVerifier.decode(text)
                    if let json = decoded?.payloadJSON {
                        print("payload:")
                        print(json)
                        for line in TokenInput.timeLines(verified.payload, now: Date()) { print(line) }
                    } else {
                        print("payload: \(verified.payload.count) bytes, not JSON")
                    }
                } catch {
                    print("invalid: \(error.code.rawValue): \(error.message)")
                    throw ExitCode(1)
                }
                return
            }
            let verifier = TokenVerifier(
                keys: keys,
                configuration: .init(issuer: iss ?? "", audience: aud ?? "", leeway: try leewaySeconds())
            )
            do {
                _ = try await verifier.verify(text)
            } catch {
                print("invalid: \(error.code.rawValue): \(error.message)")
                throw ExitCode(1)
            }
            let decoded = try? TokenVerifier.decode(text)
            print("valid")
            print(
                "kid \(decoded?.kid ?? "(none)"), alg \(decoded?.algorithm ?? "?"); checked typ, signature, iss, aud, exp, nbf, iat (leeway \(Int(try leewaySeconds()))s)"
            )
            if let decoded, let json = decoded.payloadJSON {
                print("claims:")
                print(json)
                for line in TokenInput.timeLines(decoded.payload, now: Date()) { print(line) }
            }
        }

        /// The JWK Set bytes from the file or URL `--jwks` names.
        func loadJWKS() async throws -> Data {
            guard jwks.hasPrefix("http://") || jwks.hasPrefix("https://") else {
                do {
                    return try Data(contentsOf: URL(fileURLWithPath: jwks))
                } catch {
                    throw KeyRingTool.failure("cannot read the JWK Set file \(jwks): \((error as NSError).localizedDescription)")
                }
            }
            guard let url = URL(string: jwks), url.host != nil else {
                throw ValidationError("--jwks \(jwks) is not a valid URL")
            }
            if url.scheme == "http" {
                KeyRingTool.standardError("warning: fetching the JWK Set over plain http: anyone on the network path could substitute their own keys")
            }
            let timeout = try timeoutSeconds()
            let configuration = URLSessionConfiguration.ephemeral
            configuration.timeoutIntervalForRequest = timeout
            configuration.timeoutIntervalForResource = timeout
            let session = URLSession(configuration: configuration)
            defer { session.finishTasksAndInvalidate() }
            var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
            request.setValue("application/jwk-set+json, application/json", forHTTPHeaderField: "Accept")
            let data: Data
            let response: URLResponse
            do {
                (data, response) = try await session.data(for: request)
            } catch {
                throw KeyRingTool.failure("cannot fetch the JWK Set from \(jwks): \((error as NSError).localizedDescription)")
            }
            guard let status = (response as? HTTPURLResponse)?.statusCode, status == 200 else {
                let status = (response as? HTTPURLResponse)?.statusCode.description ?? "no HTTP status"
                throw KeyRingTool.failure("cannot fetch the JWK Set from \(jwks): the server answered \(status), not 200")
            }
            guard data.count <= Self.maximumJWKSBytes else {
                throw KeyRingTool.failure("the JWK Set from \(jwks) is larger than \(Self.maximumJWKSBytes) bytes")
            }
            return data
        }

        static let maximumJWKSBytes = 1 << 20
    }
}

/// Reading a token argument and describing its times.
enum TokenInput {
    /// The token in `argument`, or read from stdin for `-`, without surrounding whitespace.
    static func read(_ argument: String) throws -> String {
        let raw = argument == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : argument
        let token = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw KeyRingTool.failure("no token given") }
        return token
    }

    /// Exit status 1 with a message saying what `text` is, if not a JWS.
    static func notJWS(_ text: String, _ error: TokenError) -> ExitCode {
        let segments = text.split(separator: ".", omittingEmptySubsequences: false).count
        if segments == 5 {
            return KeyRingTool.failure(
                "this is an encrypted token (JWE, five segments), not a signed one (JWS); it cannot be decoded without its decryption key"
            )
        }
        return KeyRingTool.failure("not a signed token (JWS in compact form: three base64url segments header.payload.signature): \(error.message)")
    }

    /// `exp`, `iat` and `nbf` as ISO 8601 dates, with how far they are from `now`.
    static func timeLines(_ payload: Data, now: Date) -> [String] {
        guard let claims = try? JSONSerialization.jsonObject(with: payload) as? [String: Any] else { return [] }
        var lines: [String] = []
        for (name, meaning) in [("iat", "issued"), ("nbf", "not before"), ("exp", "expires")] {
            guard let number = claims[name] as? NSNumber, !(claims[name] is Bool) else { continue }
            let seconds = number.doubleValue
            guard seconds.isFinite, abs(seconds) < 1e11 else { continue }
            let date = Date(timeIntervalSince1970: seconds)
            let delta = date.timeIntervalSince(now)
            let relative = delta >= 0 ? "in \(span(delta))" : "\(span(-delta)) ago"
            lines.append("\(name) \(number) = \(iso(date)) (\(meaning) \(relative))")
        }
        return lines
    }

    /// A short duration: 45s, 12m 5s, 3h 2m, 4d 1h.
    static func span(_ seconds: TimeInterval) -> String {
        let total = Int(seconds.rounded())
        let (days, hours, minutes, secs) = (total / 86400, total % 86400 / 3600, total % 3600 / 60, total % 60)
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(secs)s" }
        return "\(secs)s"
    }
}

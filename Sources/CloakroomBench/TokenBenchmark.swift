import ArgumentParser
import CloakroomCore
import CloakroomTokens
import Crypto
import Foundation
import Logging
import _CryptoExtras

/// Measures signing and verifying access tokens through `AccessTokenIssuer` / `TokenVerifier`
/// (full verification, claims included) against raw swift-crypto signing and verifying of the
/// same signing input with the same key, in one run, so the library's overhead reads as a ratio.
///
/// Each cell runs on one task for a fixed time after a warm-up, ours and raw alternating in short
/// slices so that other load on the machine affects both alike. The key is made with swift-crypto
/// and imported into the ring (`importSigningKey`), so both sides use the very same key.
struct TokenBenchmark {
    struct Result {
        var algorithm: TokenAlgorithm
        var signOurs = 0.0
        var signRaw = 0.0
        var verifyOurs = 0.0
        var verifyRaw = 0.0
    }

    /// A key made outside the ring: its private JWK and raw swift-crypto operations.
    struct RawKey {
        let jwk: [String: String]
        let sign: ([UInt8]) throws -> [UInt8]
        let verify: ([UInt8], [UInt8]) -> Bool
    }

    static let issuer = "https://bench.cloakroom.test"
    static let audience = "https://api.bench.cloakroom.test"

    let seconds: Double
    let warmup: Double

    func run(_ algorithm: TokenAlgorithm) async throws -> Result {
        let raw = try Self.rawKey(algorithm)
        var quiet = Logger(label: "cloakroom.bench")
        quiet.logLevel = .critical
        let ring = TokenKeyRing(configuration: .init(algorithm: algorithm), logger: quiet)
        let data = try JSONSerialization.data(withJSONObject: raw.jwk)
        try await ring.importSigningKey(jwkJSON: data, algorithm: algorithm)
        let issuer = AccessTokenIssuer(keyRing: ring, configuration: .init(issuer: Self.issuer))
        let verifier = TokenVerifier(keys: ring, configuration: .init(issuer: Self.issuer, audience: Self.audience))

        let token = try await issuer.issue(subject: "user-1", audience: Self.audience, clientID: "bench", scope: "read write", epoch: 1).token
        let parts = token.split(separator: ".")
        guard parts.count == 3, let signature = Base64URL.decode(String(parts[2])) else {
            throw BenchError("the issued token is not a compact JWS")
        }
        let input = Array("\(parts[0]).\(parts[1])".utf8)
        // Both sides agree before anything is timed.
        guard raw.verify(signature, input) else { throw BenchError("raw \(algorithm.name) does not verify the token the issuer signed") }
        _ = try await verifier.verify(token)

        var result = Result(algorithm: algorithm)
        (result.signOurs, result.signRaw) = try await rates(
            {
                _ = try await issuer.issue(subject: "user-1", audience: Self.audience, clientID: "bench", scope: "read write", epoch: 1)
            },
            { _ = try raw.sign(input) }
        )
        (result.verifyOurs, result.verifyRaw) = try await rates(
            { _ = try await verifier.verify(token) },
            { guard raw.verify(signature, input) else { throw BenchError("raw verification failed") } }
        )
        return result
    }

    /// Operations per second of `ours` and of `raw`, each run for `seconds` in total after a
    /// `warmup`, alternating in slices of 50 ms so that other load on the machine hits both alike;
    /// each figure is the median of its slices' rates, so a burst of outside load moves it little.
    func rates(_ ours: () async throws -> Void, _ raw: () async throws -> Void) async throws -> (ours: Double, raw: Double) {
        let clock = ContinuousClock()
        _ = try await slice(ours, for: .milliseconds(Int(warmup * 500)), clock: clock)
        _ = try await slice(raw, for: .milliseconds(Int(warmup * 500)), clock: clock)
        var samples: [[Double]] = [[], []]
        var spent = [Duration.zero, .zero]
        let budget = Duration.milliseconds(Int(seconds * 1000))
        while spent[0] < budget || spent[1] < budget {
            for index in 0..<2 where spent[index] < budget {
                let (count, time) =
                    index == 0
                    ? try await slice(ours, for: .milliseconds(50), clock: clock)
                    : try await slice(raw, for: .milliseconds(50), clock: clock)
                spent[index] += time
                samples[index].append(Double(count) / (Double(time.components.seconds) + Double(time.components.attoseconds) / 1e18))
            }
        }
        func median(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        return (median(samples[0]), median(samples[1]))
    }

    /// Runs `operation` back to back (in groups of 8) for about `length`; the count and the time taken.
    func slice(_ operation: () async throws -> Void, for length: Duration, clock: ContinuousClock) async throws -> (Int, Duration) {
        let start = clock.now
        let end = start.advanced(by: length)
        var count = 0
        var now = start
        repeat {
            for _ in 0..<8 { try await operation() }
            count += 8
            now = clock.now
        } while now < end
        return (count, now - start)
    }

    /// A fresh key for `algorithm`, as swift-crypto makes it.
    static func rawKey(_ algorithm: TokenAlgorithm) throws -> RawKey {
        var jwk = ["alg": algorithm.name, "use": "sig", "kid": "bench-\(algorithm.name)"]
        switch algorithm {
        case .eddsa:
            let key = Curve25519.Signing.PrivateKey()
            let publicKey = key.publicKey
            jwk.merge([
                "kty": "OKP", "crv": "Ed25519", "x": Base64URL.encode(publicKey.rawRepresentation), "d": Base64URL.encode(key.rawRepresentation),
            ]) { $1 }
            return RawKey(jwk: jwk, sign: { Array(try key.signature(for: $0)) }, verify: { publicKey.isValidSignature($0, for: $1) })
        case .es256:
            let key = P256.Signing.PrivateKey()
            let publicKey = key.publicKey
            let point = Array(publicKey.x963Representation)
            jwk.merge([
                "kty": "EC", "crv": "P-256", "x": Base64URL.encode(point[1...32]), "y": Base64URL.encode(point[33...64]),
                "d": Base64URL.encode(key.rawRepresentation),
            ]) { $1 }
            return RawKey(
                jwk: jwk,
                sign: { Array(try key.signature(for: SHA256.hash(data: $0)).rawRepresentation) },
                verify: { signature, input in
                    guard let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
                    return publicKey.isValidSignature(parsed, for: SHA256.hash(data: input))
                }
            )
        case .es384:
            let key = P384.Signing.PrivateKey()
            let publicKey = key.publicKey
            let point = Array(publicKey.x963Representation)
            jwk.merge([
                "kty": "EC", "crv": "P-384", "x": Base64URL.encode(point[1...48]), "y": Base64URL.encode(point[49...96]),
                "d": Base64URL.encode(key.rawRepresentation),
            ]) { $1 }
            return RawKey(
                jwk: jwk,
                sign: { Array(try key.signature(for: SHA384.hash(data: $0)).rawRepresentation) },
                verify: { signature, input in
                    guard let parsed = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
                    return publicKey.isValidSignature(parsed, for: SHA384.hash(data: input))
                }
            )
        case .rs256, .ps256:
            let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let publicKey = key.publicKey
            let numbers = try PKCS1PrivateKey(der: Array(key.derRepresentation))
            jwk.merge([
                "kty": "RSA", "n": Base64URL.encode(numbers.n), "e": Base64URL.encode(numbers.e), "d": Base64URL.encode(numbers.d),
                "p": Base64URL.encode(numbers.p), "q": Base64URL.encode(numbers.q),
            ]) { $1 }
            let padding: _RSA.Signing.Padding = algorithm == .rs256 ? .insecurePKCS1v1_5 : .PSS
            return RawKey(
                jwk: jwk,
                sign: { Array(try key.signature(for: SHA256.hash(data: $0), padding: padding).rawRepresentation) },
                verify: { publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: $0), for: SHA256.hash(data: $1), padding: padding) }
            )
        case .hs256, .hs384, .hs512:
            let key = SymmetricKey(size: .init(bitCount: (algorithm.minimumSymmetricKeyBytes ?? 32) * 8))
            jwk.merge(["kty": "oct", "k": key.withUnsafeBytes { Base64URL.encode($0) }]) { $1 }
            switch algorithm {
            case .hs384: return keyedHMAC(HMAC<SHA384>(key: key), jwk: jwk)
            case .hs512: return keyedHMAC(HMAC<SHA512>(key: key), jwk: jwk)
            default: return keyedHMAC(HMAC<SHA256>(key: key), jwk: jwk)
            }
        default:
            throw BenchError("\(algorithm.name) is not a signing algorithm")
        }
    }

    /// HMAC with swift-crypto's keyed state made once (the key's inner and outer pads already
    /// hashed), as both the key ring's signer and ``TokenVerifier`` hold it; the one-shot
    /// `HMAC.isValidAuthenticationCode(_:authenticating:using:)` would hash the pads again on
    /// every call, work the library does not do, and flatter the ratio. Compared in constant time.
    static func keyedHMAC<H: HashFunction>(_ keyed: HMAC<H>, jwk: [String: String]) -> RawKey {
        RawKey(
            jwk: jwk,
            sign: { input in
                var mac = keyed
                mac.update(data: input)
                return Array(mac.finalize())
            },
            verify: { signature, input in
                var mac = keyed
                mac.update(data: input)
                return mac.finalize() == signature
            }
        )
    }

    /// The results as a Markdown table.
    static func table(_ results: [Result], seconds: Double) -> String {
        func rate(_ value: Double) -> String {
            value >= 10_000
                ? String(format: "%.0fk", value / 1000) : value >= 1000 ? String(format: "%.1fk", value / 1000) : String(format: "%.0f", value)
        }
        func overhead(_ ours: Double, _ raw: Double) -> String {
            String(format: "%.1f", (1 / ours - 1 / raw) * 1e6)
        }
        var lines = [
            "| alg | sign ours/s | sign raw/s | sign ours÷raw | verify ours/s | verify raw/s | verify ours÷raw | verify overhead µs |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in results {
            lines.append(
                "| \(r.algorithm.name) | \(rate(r.signOurs)) | \(rate(r.signRaw)) | \(String(format: "%.2f", r.signOurs / r.signRaw)) | \(rate(r.verifyOurs)) | \(rate(r.verifyRaw)) | \(String(format: "%.2f", r.verifyOurs / r.verifyRaw)) | \(overhead(r.verifyOurs, r.verifyRaw)) |"
            )
        }
        lines.append("")
        lines.append(
            String(
                format:
                    "One task, %.1f s per cell after a warm-up, ours and raw alternating in 50 ms slices, median slice rate. ours = AccessTokenIssuer.issue (claims, JSON, base64url, signature) / TokenVerifier.verify (parse, header rules, key lookup, signature, claims); raw = swift-crypto over the same signing input and key (HMAC: keyed once, as Cloakroom holds it).",
                seconds
            )
        )
        return lines.joined(separator: "\n")
    }
}

/// The numbers of a PKCS #1 `RSAPrivateKey` (RFC 8017 appendix A.1.2), read from its DER.
struct PKCS1PrivateKey {
    let n: [UInt8], e: [UInt8], d: [UInt8], p: [UInt8], q: [UInt8]

    init(der: [UInt8]) throws {
        var reader = Reader(bytes: der[...])
        var sequence = Reader(bytes: try reader.element(tag: 0x30))
        var integers: [[UInt8]] = []
        while !sequence.bytes.isEmpty, integers.count < 6 {
            integers.append(Array(try sequence.element(tag: 0x02).drop { $0 == 0 }))
        }
        guard integers.count == 6 else { throw BenchError("the RSA private key DER is not PKCS #1") }
        (n, e, d, p, q) = (integers[1], integers[2], integers[3], integers[4], integers[5])
    }

    private struct Reader {
        var bytes: ArraySlice<UInt8>

        mutating func element(tag: UInt8) throws -> ArraySlice<UInt8> {
            guard bytes.count >= 2, bytes.first == tag else { throw BenchError("unexpected DER") }
            bytes = bytes.dropFirst()
            var length = Int(bytes.removeFirst())
            if length & 0x80 != 0 {
                let count = length & 0x7F
                guard count <= 4, bytes.count >= count else { throw BenchError("unexpected DER length") }
                length = bytes.prefix(count).reduce(0) { $0 << 8 | Int($1) }
                bytes = bytes.dropFirst(count)
            }
            guard bytes.count >= length else { throw BenchError("truncated DER") }
            defer { bytes = bytes.dropFirst(length) }
            return bytes.prefix(length)
        }
    }
}

extension Bench {
    /// `cloakroom bench tokens`.
    struct Tokens: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign and verify access tokens per algorithm, through Cloakroom and with raw swift-crypto; print ops/s and the ratio."
        )

        @Option(help: "Seconds to measure each cell") var seconds = 1.0
        @Option(help: "Seconds of warm-up before each cell") var warmup = 0.2
        @Option(help: "Algorithms, comma-separated. Default: \(TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ","))")
        var algorithms = TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ",")

        func validate() throws {
            guard seconds > 0, seconds <= 600, warmup >= 0, warmup <= 60 else {
                throw ValidationError("--seconds must be in (0, 600] and --warmup in [0, 60]")
            }
            guard try !chosen().isEmpty else { throw ValidationError("--algorithms names no algorithm") }
        }

        func chosen() throws -> [TokenAlgorithm] {
            try algorithms.split(separator: ",").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { part in
                let name = part.trimmingCharacters(in: .whitespaces)
                let choices = TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ", ")
                guard let algorithm = TokenAlgorithm.named(name), algorithm.canSign else {
                    throw ValidationError("algorithm \(name) is not one of \(choices)")
                }
                return algorithm
            }
        }

        func run() async throws {
            #if DEBUG
            print("note: this is a debug build; measure with `swift build -c release --product cloakroom`")
            #endif
            print("cloakroom bench tokens: \(ProcessInfo.processInfo.activeProcessorCount) cores, one task, \(seconds) s per cell")
            let bench = TokenBenchmark(seconds: seconds, warmup: warmup)
            var results: [TokenBenchmark.Result] = []
            for algorithm in try chosen() {
                let result = try await bench.run(algorithm)
                print(
                    String(
                        format: "%@: sign %.0f/s (raw %.0f/s), verify %.0f/s (raw %.0f/s)",
                        algorithm.name,
                        result.signOurs,
                        result.signRaw,
                        result.verifyOurs,
                        result.verifyRaw
                    )
                )
                results.append(result)
            }
            print("")
            print(TokenBenchmark.table(results, seconds: seconds))
        }
    }
}

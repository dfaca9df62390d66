import CloakroomCore
import Foundation
import JWTKit
import Logging
import Synchronization
import Testing

@testable import CloakroomTokens

/// A clock tests move by hand instead of sleeping.
final class TestClock: CloakroomClock {
    private let current: Mutex<Date>

    /// Starts at 2026-01-01T00:00:00Z.
    init(start: Date = Date(timeIntervalSince1970: 1_767_225_600)) {
        self.current = Mutex(start)
    }

    func now() -> Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// Shared fixtures: rings, issuers, verifiers, and hand-made (forged) tokens.
enum TokenFixtures {
    /// A logger that drops everything, so test output stays readable.
    static let quiet = Logger(label: "cloakroom.tokens.tests") { _ in SwiftLogNoOpLogHandler() }

    static let issuer = "https://auth.cloakroom.test"
    static let audience = "https://api.cloakroom.test"

    /// A ring with one active key of `algorithm`.
    static func ring(_ algorithm: TokenAlgorithm = .eddsa, clock: TestClock) async throws -> TokenKeyRing {
        let ring = TokenKeyRing(configuration: .init(algorithm: algorithm), clock: clock, logger: quiet)
        try await ring.generate(algorithm)
        return ring
    }

    static func issuer(_ ring: TokenKeyRing, clock: TestClock) -> AccessTokenIssuer {
        AccessTokenIssuer(keyRing: ring, configuration: .init(issuer: issuer), clock: clock)
    }

    static func verifier(
        _ keys: any VerificationKeySource,
        clock: TestClock,
        issuer: String = issuer,
        audience: String = audience
    ) -> TokenVerifier {
        TokenVerifier(keys: keys, configuration: .init(issuer: issuer, audience: audience), clock: clock)
    }

    /// Claims as the issuer would write them, at `now`.
    static func claims(now: Date, lifetime: TimeInterval = 600) -> [String: Any] {
        let iat = Int(now.timeIntervalSince1970)
        return [
            "iss": issuer, "sub": "user-1", "aud": audience, "iat": iat, "exp": iat + Int(lifetime),
            "jti": "jti-1", "client_id": "client-1", "scope": "read write", "epoch": 3,
        ]
    }

    static func json(_ object: Any) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// A compact token with exactly this header and payload, signed with the ring's active key
    /// (whatever the header says), so that only the header rule under test can refuse it.
    static func forge(header: [String: Any], payload: [String: Any], ring: TokenKeyRing) async throws -> String {
        try await sign(Base64URL.encode(json(header)) + "." + Base64URL.encode(json(payload)), ring: ring)
    }

    /// `input` (`header.payload`) with a signature by the ring's active key appended.
    static func sign(_ input: String, ring: TokenKeyRing) async throws -> String {
        let key = try ring.signingKey()
        return input + "." + Base64URL.encode(try key.signer.sign(Array(input.utf8)))
    }

    /// A compact token with the given header and payload and an arbitrary signature segment.
    static func unsigned(header: [String: Any], payload: [String: Any], signature: String = "") -> String {
        Base64URL.encode(json(header)) + "." + Base64URL.encode(json(payload)) + "." + signature
    }

    /// The ring's active kid.
    static func kid(_ ring: TokenKeyRing) async throws -> String {
        try #require(await ring.activeKey()).kid
    }
}

/// Expects `body` to throw a `TokenError` with `code`.
func expectRefusal(
    _ code: TokenError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code.rawValue), but the token was accepted", sourceLocation: sourceLocation)
    } catch let error as TokenError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected TokenError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw a `TokenKeyError` with `code`.
func expectKeyError(
    _ code: TokenKeyError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code.rawValue), but it succeeded", sourceLocation: sourceLocation)
    } catch let error as TokenKeyError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected TokenKeyError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Files under `../shared/testdata/` (the package root is three levels above this file).
enum TestData {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/testdata").standardized

    /// A JOSE cookbook case: `{title, input{payload,key,alg}, output{compact}}`.
    struct CookbookCase {
        let payload: String
        let keyJSON: Data
        let alg: String
        let compact: String
    }

    static func cookbook(_ relativePath: String) throws -> CookbookCase {
        let url = root.appendingPathComponent("jose-cookbook").appendingPathComponent(relativePath)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let input = try #require(object["input"] as? [String: Any])
        let output = try #require(object["output"] as? [String: Any])
        let key = try #require(input["key"] as? [String: Any])
        return CookbookCase(
            payload: try #require(input["payload"] as? String),
            keyJSON: try JSONSerialization.data(withJSONObject: key),
            alg: try #require(input["alg"] as? String),
            compact: try #require(output["compact"] as? String)
        )
    }

    /// The cookbook key of `relativePath` with members changed (nil removes a member).
    static func cookbookKey(_ relativePath: String, changing changes: [String: Any?]) throws -> Data {
        var key = try #require(try JSONSerialization.jsonObject(with: cookbook(relativePath).keyJSON) as? [String: Any])
        for (name, value) in changes {
            key[name] = value
        }
        return try JSONSerialization.data(withJSONObject: key)
    }
}

extension String {
    /// The compact token with one byte of the decoded segment `index` flipped, re-encoded canonically.
    func flippingByte(inSegment index: Int) -> String {
        var segments = split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var bytes = Base64URL.decode(segments[index]) ?? []
        bytes[bytes.count / 2] ^= 0x01
        segments[index] = Base64URL.encode(bytes)
        return segments.joined(separator: ".")
    }
}

extension TestClock {
    /// Sets the time.
    func set(_ date: Date) {
        advance(by: date.timeIntervalSince(now()))
    }
}

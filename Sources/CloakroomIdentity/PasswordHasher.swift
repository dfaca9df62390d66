import CloakroomCore
import Crypto
import Dispatch
import Foundation
import Synchronization
import _CryptoExtras

/// scrypt cost parameters, stored with every hash so they can be raised later.
public struct ScryptParameters: Sendable, Equatable, CustomStringConvertible {
    /// log2 of N, the CPU/memory cost.
    public var logN: Int
    /// Block size r.
    public var r: Int
    /// Parallelism p.
    public var p: Int

    /// Creates parameters.
    public init(logN: Int, r: Int, p: Int) {
        self.logN = logN
        self.r = r
        self.p = p
    }

    /// OWASP Password Storage Cheat Sheet equivalent setting: N=2^15, r=8, p=3 (32 MiB, ~0.1–0.3 s).
    public static let owasp = ScryptParameters(logN: 15, r: 8, p: 3)

    /// Memory one hash needs, in bytes (128·r·N).
    public var memoryBytes: Int { 128 * r * (1 << logN) }

    /// Rough work: N·r·p; used to compare strengths.
    public var work: Int { (1 << logN) * r * p }

    public var description: String { "ln=\(logN),r=\(r),p=\(p)" }
}

/// Hashes and verifies passwords with scrypt (swift-crypto's `KDF.Scrypt`), off the event loop.
///
/// Encoded form: `$scrypt$ln=15,r=8,p=3$<salt base64>$<hash base64>` (16-byte salt, 32-byte hash).
/// At most `maxConcurrent` hashes run at once, each on a Dispatch thread, never on a Swift
/// concurrency or NIO thread; beyond `maxQueued` waiting callers, `IdentityError.busy` is thrown,
/// so a login storm cannot exhaust memory (each hash holds `parameters.memoryBytes`).
public struct PasswordHasher: Sendable {
    /// Parameters for new hashes.
    public let parameters: ScryptParameters
    let gate: ConcurrencyGate
    /// The salt of the stand-in derivation for unknown users (see ``verifyDummy(_:)``).
    let dummySalt: [UInt8]
    /// scrypt work (N·r·p) done so far by this hasher and its copies, for tests.
    let workDone = WorkCounter()

    /// At most one hash per core but one: the last core keeps answering requests during a sign-in
    /// storm (on two cores, two parallel hashes raised `/api/me`'s p99 fourfold; one, threefold).
    public static let defaultMaxConcurrent = max(1, ProcessInfo.processInfo.activeProcessorCount - 1)

    /// Creates a hasher.
    public init(parameters: ScryptParameters = .owasp, maxConcurrent: Int = PasswordHasher.defaultMaxConcurrent, maxQueued: Int = 64) {
        self.parameters = parameters
        self.gate = ConcurrencyGate(limit: maxConcurrent, maxWaiting: maxQueued)
        // Nothing is derived here: a hash made up front would cost a whole scrypt run at every
        // start (seconds in a debug build, where BoringSSL is not optimised).
        self.dummySalt = Base64URL.decode(SecureToken(byteCount: 16).text) ?? []
    }

    /// Hashes `password` with a fresh random salt.
    public func hash(_ password: String) async throws -> String {
        let salt = Base64URL.decode(SecureToken(byteCount: 16).text) ?? []
        let parameters = self.parameters
        return try await run(work: parameters.work) { try Self.encode(password: password, salt: salt, parameters: parameters) }
    }

    /// True when `password` matches `encoded`. Compares in constant time.
    public func verify(_ password: String, against encoded: String) async throws -> Bool {
        guard let parsed = Self.parse(encoded) else { throw IdentityError.malformedHash() }
        let candidate = try await run(work: parsed.parameters.work) {
            try Self.derive(password: password, salt: parsed.salt, parameters: parsed.parameters, length: parsed.hash.count)
        }
        return ConstantTime.equals(candidate, parsed.hash)
    }

    /// Spends the same effort as `verify` of a password hashed with ``parameters`` (the same
    /// derivation, queued behind the same gate), for unknown users, so that "no such user" and
    /// "wrong password" take the same time.
    public func verifyDummy(_ password: String) async throws {
        let salt = dummySalt
        let parameters = self.parameters
        _ = try await run(work: parameters.work) { try Self.derive(password: password, salt: salt, parameters: parameters, length: 32) }
    }

    /// Tops the effort of a `verify` against `encoded` up to that of ``parameters`` when `encoded`
    /// was made with cheaper parameters (an account that has not signed in since the cost was
    /// raised): without it, a wrong password for such an account answers faster than one for an
    /// unknown user or a current hash, and tells that the account exists and is old. An extra
    /// derivation supplies the missing work (Django's `harden_runtime`); nothing for a current hash.
    public func hardenRuntime(_ password: String, stored encoded: String) async throws {
        guard let extra = Self.hardening(stored: Self.parse(encoded)?.parameters, current: parameters) else { return }
        let salt = dummySalt
        _ = try await run(work: extra.work) { try Self.derive(password: password, salt: salt, parameters: extra, length: 32) }
    }

    /// Parameters whose work is the part of `current`'s that `stored` lacks (nearest to it with
    /// `current.r` and a power-of-two N), nil when `stored` is not cheaper.
    static func hardening(stored: ScryptParameters?, current: ScryptParameters) -> ScryptParameters? {
        guard let stored, stored.work < current.work else { return nil }
        let missing = current.work - stored.work
        let r = current.r
        var logN = 1
        while logN < 30, (1 << (logN + 1)) * r * 4 <= missing { logN += 1 }
        let unit = (1 << logN) * r
        let p = max(1, min(64, Int((Double(missing) / Double(unit)).rounded())))
        return ScryptParameters(logN: logN, r: r, p: p)
    }

    /// True when `encoded` was made with weaker parameters than `parameters` (rehash at sign-in).
    public func needsRehash(_ encoded: String) -> Bool {
        guard let parsed = Self.parse(encoded) else { return true }
        return parsed.parameters.work < parameters.work || parsed.parameters.memoryBytes < parameters.memoryBytes
    }

    /// The parameters stored in `encoded`, nil if it is not a Cloakroom scrypt hash.
    public static func parameters(of encoded: String) -> ScryptParameters? { parse(encoded)?.parameters }

    // MARK: - Encoding

    static func encode(password: String, salt: [UInt8], parameters: ScryptParameters) throws -> String {
        let hash = try derive(password: password, salt: salt, parameters: parameters, length: 32)
        return "$scrypt$\(parameters)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
    }

    static func derive(password: String, salt: [UInt8], parameters: ScryptParameters, length: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8),
            salt: salt,
            outputByteCount: length,
            rounds: 1 << parameters.logN,
            blockSize: parameters.r,
            parallelism: parameters.p
        )
        return key.withUnsafeBytes { Array($0) }
    }

    static func parse(_ encoded: String) -> (parameters: ScryptParameters, salt: [UInt8], hash: [UInt8])? {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else { return nil }
        var values: [String: Int] = [:]
        for field in parts[2].split(separator: ",") {
            let pair = field.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let number = Int(pair[1]) else { return nil }
            values[String(pair[0])] = number
        }
        guard let logN = values["ln"], let r = values["r"], let p = values["p"],
            (1...30).contains(logN), (1...64).contains(r), (1...64).contains(p),
            let salt = Data(base64Encoded: String(parts[3])), let hash = Data(base64Encoded: String(parts[4])),
            !salt.isEmpty, hash.count >= 16
        else { return nil }
        return (ScryptParameters(logN: logN, r: r, p: p), Array(salt), Array(hash))
    }

    private func run<T: Sendable>(work units: Int, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        workDone.add(units)
        return try await gate.withPermit {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global(qos: .userInitiated).async {
                    continuation.resume(with: Result { try work() })
                }
            }
        }
    }
}

/// A count of scrypt work shared by a hasher's copies.
final class WorkCounter: Sendable {
    private let total = Mutex(0)
    func add(_ units: Int) { total.withLock { $0 += units } }
    var value: Int { total.withLock { $0 } }
}

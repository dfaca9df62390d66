import CloakroomCore
import Foundation
import JWTKit
import Logging
import Synchronization

/// The server's signing keys, each with a `kid`, one algorithm, a creation date and a state.
///
/// One key is active and signs new tokens. ``rotate()`` makes a fresh key active at once and
/// keeps the previous one verifying until `now + maxTokenLifetime + leeway`, so every token it
/// signed still verifies until it expires (RFC 7517 section 4.5; OWASP JSON Web Token Cheat
/// Sheet, key rotation); ``prune(now:)`` then drops it. Imported public keys of other issuers
/// verify only. ``jwks()`` publishes the public keys that currently verify; symmetric keys and
/// imported keys are never published. Persistence lives in `TokenKeyRing+Persistence.swift`.
public actor TokenKeyRing: VerificationKeySource, ImmediateVerificationKeySource {
    /// Ring settings.
    public struct Configuration: Sendable, Hashable {
        /// The algorithm of keys made by ``TokenKeyRing/rotate()`` on an empty ring and by
        /// ``TokenKeyRing/generate(_:)`` without an argument (default EdDSA).
        public var algorithm: TokenAlgorithm
        /// The longest lifetime of a token signed by the ring (default 10 minutes); issuers
        /// never exceed it, so a retired key is kept this long.
        public var maxTokenLifetime: TimeInterval
        /// The verifiers' clock-skew leeway (default 30 s), added to a retired key's period.
        public var leeway: TimeInterval

        /// Creates a configuration.
        public init(algorithm: TokenAlgorithm = .eddsa, maxTokenLifetime: TimeInterval = 600, leeway: TimeInterval = 30) {
            self.algorithm = algorithm
            self.maxTokenLifetime = maxTokenLifetime
            self.leeway = leeway
        }
    }

    /// One key with its material, the jwt-kit object that signs with it, and its signature
    /// check (made once, here).
    struct Entry: Sendable {
        var info: TokenKeyInfo
        let material: KeyMaterial
        let jwtAlgorithm: any JWTAlgorithm
        let signatureCheck: SignatureCheck

        init(info: TokenKeyInfo, material: KeyMaterial, jwtAlgorithm: any JWTAlgorithm) {
            self.info = info
            self.material = material
            self.jwtAlgorithm = jwtAlgorithm
            self.signatureCheck = material.signatureCheck(for: info.algorithm, jwtAlgorithm: jwtAlgorithm)
        }

        /// What ``TokenKeyRing/verificationKey(kid:at:)`` hands out for this key.
        var verificationKey: VerificationKey {
            VerificationKey(kid: info.kid, algorithm: info.algorithm, signatureCheck: signatureCheck)
        }
    }

    /// A key as verifiers see it: its info (for the kid and whether it verifies at a time) and
    /// its ``VerificationKey``.
    struct PublishedKey: Sendable {
        let info: TokenKeyInfo
        let key: VerificationKey
        /// The kid's UTF-8 when it is ASCII (compared with a token's ASCII kid byte for byte).
        let asciiKid: [UInt8]?

        init(info: TokenKeyInfo, key: VerificationKey) {
            self.info = info
            self.key = key
            let utf8 = Array(info.kid.utf8)
            self.asciiKid = utf8.allSatisfy { $0 < 0x80 } ? utf8 : nil
        }

        /// `String` equality of this key's kid with `kid`.
        func named(_ kid: HeaderText) -> Bool {
            if case .ascii(let bytes) = kid, let asciiKid {
                return asciiKid.count == bytes.count
                    && asciiKid.withUnsafeBufferPointer { $0.isEmpty || memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
            }
            return kid.equals(info.kid)
        }
    }

    /// The settings.
    public nonisolated let configuration: Configuration
    /// The clock for creation dates, rotation and pruning.
    public nonisolated let clock: any CloakroomClock
    nonisolated let logger: Logger
    /// Every change is published at once (same actor step) to ``published``.
    var entries: [Entry] {
        didSet { published.withLock { $0 = Self.publish(entries) } }
    }
    /// The keys as of the last change of ``entries``, for verifiers to read without an actor
    /// hop (``immediateVerificationKey(kid:at:)``).
    nonisolated let published: Mutex<[PublishedKey]>

    /// An empty ring; call ``rotate()`` or ``generate(_:)`` before issuing tokens.
    public init(
        configuration: Configuration = Configuration(),
        clock: any CloakroomClock = SystemClock(),
        logger: Logger = Logger(label: "cloakroom.tokens")
    ) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.entries = []
        self.published = Mutex([])
    }

    init(configuration: Configuration, clock: any CloakroomClock, logger: Logger, entries: [Entry]) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.entries = entries
        self.published = Mutex(Self.publish(entries))
    }

    private static func publish(_ entries: [Entry]) -> [PublishedKey] {
        entries.map { PublishedKey(info: $0.info, key: $0.verificationKey) }
    }

    // MARK: Keys

    /// Generates a key for `algorithm` (default: the configured one) that signs from now on; the
    /// previously active key retires as in ``rotate()``.
    @discardableResult
    public func generate(_ algorithm: TokenAlgorithm? = nil) async throws(TokenKeyError) -> TokenKeyInfo {
        let algorithm = algorithm ?? configuration.algorithm
        guard algorithm.canSign else {
            throw TokenKeyError(.unsupportedAlgorithm, "the ring signs with \(TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ", ")); \(algorithm.name) is for imported keys only")
        }
        let material = try KeyMaterial.generate(for: algorithm)
        let jwtAlgorithm = try await material.jwtAlgorithm(for: algorithm)
        // No suspension below: the demotion and the insertion happen together.
        let now = clock.now()
        let info = TokenKeyInfo(kid: newKid(), algorithm: algorithm, createdAt: now, state: .active)
        var retired: [String] = []
        for index in entries.indices where entries[index].info.state == .active {
            entries[index].info.state = .retired(verifyUntil: retirementEnd(from: now))
            retired.append(entries[index].info.kid)
        }
        entries.append(Entry(info: info, material: material, jwtAlgorithm: jwtAlgorithm))
        logger.info("token signing key activated", metadata: [
            "kid": "\(info.kid)", "alg": "\(algorithm.name)", "retired": "\(retired.joined(separator: ","))",
        ])
        return info
    }

    /// Replaces the active key with a fresh one of the same algorithm (the configured one on an
    /// empty ring). New tokens carry the new `kid` at once; the old key verifies until
    /// `now + maxTokenLifetime + leeway`.
    @discardableResult
    public func rotate() async throws(TokenKeyError) -> TokenKeyInfo {
        let current = entries.last { $0.info.state == .active }?.info.algorithm
        return try await generate(current ?? configuration.algorithm)
    }

    /// Stops a key signing (if active) and keeps it verifying until `now + maxTokenLifetime +
    /// leeway`. Retiring the active key leaves the ring without a signing key until the next
    /// ``generate(_:)`` or ``rotate()``.
    @discardableResult
    public func retire(kid: String) throws(TokenKeyError) -> TokenKeyInfo {
        guard let index = entries.firstIndex(where: { $0.info.kid == kid }) else {
            throw TokenKeyError(.unknownKid, "no key has kid \(kid)")
        }
        let until = retirementEnd(from: clock.now())
        if case .retired(let current) = entries[index].info.state, current <= until {
            return entries[index].info
        }
        entries[index].info.state = .retired(verifyUntil: until)
        logger.info("token key retired", metadata: ["kid": "\(kid)"])
        return entries[index].info
    }

    /// Removes a key at once: tokens naming it are refused from now on (for a compromised key).
    @discardableResult
    public func remove(kid: String) throws(TokenKeyError) -> TokenKeyInfo {
        guard let index = entries.firstIndex(where: { $0.info.kid == kid }) else {
            throw TokenKeyError(.unknownKid, "no key has kid \(kid)")
        }
        logger.notice("token key removed", metadata: ["kid": "\(kid)"])
        return entries.remove(at: index).info
    }

    /// Every key, oldest first.
    public func list() -> [TokenKeyInfo] {
        entries.map(\.info)
    }

    /// The active key, if any.
    public func activeKey() -> TokenKeyInfo? {
        entries.last { $0.info.state == .active }?.info
    }

    /// Drops retired keys whose verification period ended at or before `now` (default: the
    /// clock's time); returns them.
    @discardableResult
    public func prune(now: Date? = nil) -> [TokenKeyInfo] {
        let now = now ?? clock.now()
        let expired = entries.filter { !$0.info.verifies(at: now) }.map(\.info)
        entries.removeAll { !$0.info.verifies(at: now) }
        for info in expired {
            logger.info("retired token key pruned", metadata: ["kid": "\(info.kid)"])
        }
        return expired
    }

    /// Imports other issuers' public keys (a JWK or JWK Set) to verify their tokens. Each key
    /// needs a `kid` not already in the ring, and an algorithm (its `alg`, or `algorithm`).
    /// Private members are dropped (only the public half is kept); `oct` keys are refused; keys
    /// whose `use` or `key_ops` excludes verification are skipped.
    @discardableResult
    public func importVerificationKeys(jwkJSON data: Data, algorithm: TokenAlgorithm? = nil) async throws(TokenKeyError) -> [TokenKeyInfo] {
        var imported: [Entry] = []
        for jwk in try JSONWebKey.keys(fromJSON: data) {
            guard let kid = jwk.kid, !kid.isEmpty else {
                throw TokenKeyError(.invalidKey, "an imported key needs a kid")
            }
            guard jwk.kty != "oct" else {
                throw TokenKeyError(.secretMaterialRefused, "\(jwk.label) is a symmetric key; only public keys can be imported")
            }
            guard jwk.allowsVerification else { continue }
            let resolved = try jwk.resolvedAlgorithm(requested: algorithm)
            guard let material = try KeyMaterial(jwk: jwk.publicKey, algorithm: resolved).publicMaterial else {
                throw TokenKeyError(.invalidKey, "\(jwk.label) has no public key")
            }
            let jwtAlgorithm = try await material.jwtAlgorithm(for: resolved)
            let info = TokenKeyInfo(kid: kid, algorithm: resolved, createdAt: clock.now(), state: .external)
            imported.append(Entry(info: info, material: material, jwtAlgorithm: jwtAlgorithm))
        }
        guard !imported.isEmpty else {
            throw TokenKeyError(.invalidKey, "no key in the JSON is for verifying signatures (see use and key_ops)")
        }
        var kids = Set(entries.map(\.info.kid))
        for entry in imported where !kids.insert(entry.info.kid).inserted {
            throw TokenKeyError(.duplicateKid, "a key with kid \(entry.info.kid) is already in the ring")
        }
        entries.append(contentsOf: imported)
        return imported.map(\.info)
    }

    // MARK: Use

    /// The key named `kid` if it verifies at `now`; never answers a token without `kid`.
    public func verificationKey(kid: String?, at now: Date) -> VerificationKey? {
        immediateVerificationKey(kid: kid.map(HeaderText.string), at: now)
    }

    /// The same answer as ``verificationKey(kid:at:)``, read from the keys as of the ring's
    /// last change (published in the same actor step as the change, so a key removed or
    /// retired by a call that has returned is never handed out), without an actor hop.
    nonisolated func immediateVerificationKey(kid: HeaderText?, at now: Date) -> VerificationKey? {
        guard let kid else { return nil }
        return published.withLock { keys in
            guard let found = keys.first(where: { $0.named(kid) }), found.info.verifies(at: now) else { return nil }
            return found.key
        }
    }

    /// The active key for signing.
    func signingKey() throws(TokenKeyError) -> SigningKey {
        guard let entry = entries.last(where: { $0.info.state == .active }) else {
            throw TokenKeyError(.noActiveKey, "the key ring has no active signing key")
        }
        return SigningKey(kid: entry.info.kid, algorithm: entry.info.algorithm, signer: entry.jwtAlgorithm)
    }

    /// The JWK Set (RFC 7517 section 5) of the ring's own public keys that verify now, each with
    /// `kid`, `alg` and `use: sig`. Symmetric keys, private members and imported keys never
    /// appear.
    public func jwks() -> String {
        let now = clock.now()
        let keys = entries
            .filter { $0.info.state != .external && $0.info.verifies(at: now) }
            .compactMap { $0.material.publicJWK(kid: $0.info.kid, algorithm: $0.info.algorithm) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(["keys": keys]) else { return #"{"keys":[]}"# }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Helpers

    private func retirementEnd(from now: Date) -> Date {
        now.addingTimeInterval(configuration.maxTokenLifetime + configuration.leeway)
    }

    /// A fresh random kid; never one starting with `-`, which a command line would take for an option.
    private func newKid() -> String {
        var kid = SecureToken(byteCount: 16).text
        while kid.hasPrefix("-") || entries.contains(where: { $0.info.kid == kid }) {
            kid = SecureToken(byteCount: 16).text
        }
        return kid
    }
}

/// The active key, handed to an issuer.
struct SigningKey: Sendable {
    let kid: String
    let algorithm: TokenAlgorithm
    let signer: any JWTAlgorithm
}

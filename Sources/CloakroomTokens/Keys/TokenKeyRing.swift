public import CloakroomCore
public import Foundation
import JWTKit
public import Logging
import Synchronization

/// The server's signing keys, each with a `kid`, one algorithm, a creation date and a state.
///
/// One key is active and signs new tokens. ``rotate(activateIn:)`` publishes a fresh key at once
/// but lets it sign only from an activation time (default ``Configuration/activationDelay``, 6
/// minutes: longer than any verifier caches the JWK Set plus the time servers take to load the
/// key file), so no verifier meets a `kid` it has not been offered (RFC 7517 section 4.5; OWASP
/// JSON Web Token Cheat Sheet, key rotation). At that time every server holding the ring
/// switches by its own clock; the previous key stops signing and keeps verifying until every
/// token it signed has expired (its retirement end (activation + the longest token lifetime + leeway)); ``prune(now:)`` then
/// drops it. Imported public keys of other issuers verify only. ``jwks()`` publishes the public
/// keys that currently verify, the next key included; symmetric keys and imported keys are
/// never published. Persistence lives in `TokenKeyRing+Persistence.swift`.
public actor TokenKeyRing: VerificationKeySource, ImmediateVerificationKeySource {
    /// Ring settings.
    public struct Configuration: Sendable, Hashable {
        /// The algorithm of keys made by ``TokenKeyRing/rotate(activateIn:)`` on an empty ring and by
        /// ``TokenKeyRing/generate(_:activateIn:)`` without an argument (default EdDSA).
        public var algorithm: TokenAlgorithm
        /// The longest lifetime of a token signed by the ring (default 10 minutes); issuers
        /// never exceed it, so a retired key is kept this long.
        public var maxTokenLifetime: TimeInterval
        /// The verifiers' clock-skew leeway (default 30 s), added to a retired key's period.
        public var leeway: TimeInterval
        /// How long after a new key is added it starts signing (default 6 minutes: the JWK Set's
        /// ``TokenKeyRing/jwksMaxAge`` plus ``keyFilePickup`` plus margin), when the caller
        /// does not say.
        public var activationDelay: TimeInterval
        /// How long after the key file changes a server may still sign with the keys it had
        /// (default 30 s: servers check the file every second; the rest is margin for shared
        /// volumes that cache file attributes). A key that stops signing sooner than this after
        /// the change keeps verifying as if it had signed until then.
        public var keyFilePickup: TimeInterval

        /// Creates a configuration.
        public init(
            algorithm: TokenAlgorithm = .eddsa,
            maxTokenLifetime: TimeInterval = 600,
            leeway: TimeInterval = 30,
            activationDelay: TimeInterval = 360,
            keyFilePickup: TimeInterval = 30
        ) {
            self.algorithm = algorithm
            self.maxTokenLifetime = maxTokenLifetime
            self.leeway = leeway
            self.activationDelay = activationDelay
            self.keyFilePickup = keyFilePickup
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

    /// What verifiers and issuers read without an actor hop: every key, and the keys that sign
    /// in some period (usually one, two while a next key waits for its activation time).
    struct Snapshot: Sendable {
        var keys: [PublishedKey]
        var signers: [ScheduledSigningKey]
    }

    /// A key that signs from `from` (inclusive) until `until` (exclusive).
    struct ScheduledSigningKey: Sendable {
        let key: SigningKey
        let from: Date
        let until: Date
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

    /// The `max-age` of the JWK Set the server publishes (`GET /.well-known/jwks.json`): 5
    /// minutes. The default ``Configuration/activationDelay`` is longer.
    public static let jwksMaxAge: TimeInterval = 300

    /// The settings.
    public nonisolated let configuration: Configuration
    /// The clock for creation dates, rotation and pruning.
    public nonisolated let clock: any CloakroomClock
    nonisolated let logger: Logger
    /// Every change is published at once (same actor step) to ``published``.
    var entries: [Entry] {
        didSet { published.withLock { $0 = Self.publish(entries) } }
    }
    /// The keys as of the last change of ``entries``, for verifiers and issuers to read without
    /// an actor hop (``immediateVerificationKey(kid:at:)``, ``signingKey()``).
    nonisolated let published: Mutex<Snapshot>

    /// An empty ring; call ``rotate(activateIn:)`` or ``generate(_:activateIn:)`` before issuing tokens.
    public init(
        configuration: Configuration = Configuration(),
        clock: any CloakroomClock = SystemClock(),
        logger: Logger = Logger(label: "cloakroom.tokens")
    ) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.entries = []
        self.published = Mutex(Snapshot(keys: [], signers: []))
    }

    init(configuration: Configuration, clock: any CloakroomClock, logger: Logger, entries: [Entry]) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.entries = entries
        self.published = Mutex(Self.publish(entries))
    }

    private static func publish(_ entries: [Entry]) -> Snapshot {
        var signers: [ScheduledSigningKey] = []
        for entry in entries {
            let period: (from: Date, until: Date)
            switch entry.info.state {
            case .active: period = (.distantPast, .distantFuture)
            case .next(let activation): period = (activation, .distantFuture)
            case .retiring(let end, _): period = (.distantPast, end)
            case .retired, .external: continue
            }
            let key = SigningKey(kid: entry.info.kid, algorithm: entry.info.algorithm, signer: entry.jwtAlgorithm)
            signers.append(ScheduledSigningKey(key: key, from: period.from, until: period.until))
        }
        return Snapshot(keys: entries.map { PublishedKey(info: $0.info, key: $0.verificationKey) }, signers: signers)
    }

    // MARK: Keys

    /// Generates a key for `algorithm` (default: the configured one) and schedules it as the
    /// next signing key, as in ``rotate(activateIn:)``.
    @discardableResult
    public func generate(_ algorithm: TokenAlgorithm? = nil, activateIn delay: TimeInterval? = nil) async throws(TokenKeyError) -> TokenKeyInfo {
        let algorithm = algorithm ?? configuration.algorithm
        guard algorithm.canSign else {
            throw TokenKeyError(
                .unsupportedAlgorithm,
                "the ring signs with \(TokenAlgorithm.signingAlgorithms.map(\.name).joined(separator: ", ")); \(algorithm.name) is for imported keys only"
            )
        }
        let material = try KeyMaterial.generate(for: algorithm)
        let jwtAlgorithm = try await material.jwtAlgorithm(for: algorithm)
        // No suspension below: the kid choice and the schedule happen together.
        return schedule(kid: newKid(), algorithm: algorithm, material: material, jwtAlgorithm: jwtAlgorithm, activateIn: delay, event: "generated")
    }

    /// Adds a fresh key of the same algorithm as the newest signing key (the configured one on
    /// an empty ring) that signs `delay` seconds from now (default
    /// ``Configuration/activationDelay``).
    ///
    /// The new key is published and verifies at once; until its activation time the current
    /// key keeps signing. At that time every server holding the ring switches by its own clock
    /// and the current key retires: it verifies until its retirement end (activation + the longest token lifetime + leeway) of
    /// the activation time. With `delay` 0 (an emergency, e.g. a compromised key) the new key
    /// signs at once, and a verifier that cached the JWK Set before may refuse its tokens until
    /// its cache expires (up to ``jwksMaxAge``). On a ring where no key signs, the new key
    /// activates at once whatever `delay` says. A next key already waiting is replaced (it has
    /// never signed).
    @discardableResult
    public func rotate(activateIn delay: TimeInterval? = nil) async throws(TokenKeyError) -> TokenKeyInfo {
        let newest = entries.last { entry in
            switch entry.info.state {
            case .active, .next, .retiring: true
            case .retired, .external: false
            }
        }
        return try await generate(newest?.info.algorithm ?? configuration.algorithm, activateIn: delay)
    }

    /// Makes a new own key (already checked, its kid unused) the next signing key, activating
    /// `delay` seconds from now (default ``Configuration/activationDelay``; at once when no key
    /// signs now), replacing a next key that was waiting and scheduling the end of the current
    /// signing key. One assignment of ``entries``, so verifiers and issuers never see a ring in
    /// between.
    func schedule(
        kid: String,
        algorithm: TokenAlgorithm,
        material: KeyMaterial,
        jwtAlgorithm: any JWTAlgorithm,
        activateIn delay: TimeInterval?,
        event: String
    ) -> TokenKeyInfo {
        let now = clock.now()
        var keys = Self.settled(entries, at: now)
        let replaced = keys.filter { $0.info.state.isNext }.map(\.info.kid)
        keys.removeAll { $0.info.state.isNext }
        let signsNow = keys.contains { $0.info.signs(at: now) }
        let activation = signsNow ? now.addingTimeInterval(max(0, delay ?? configuration.activationDelay)) : now
        let until = retirementEnd(signingStops: activation, now: now)
        var retiring: [String] = []
        for index in keys.indices {
            switch keys[index].info.state {
            case .active, .retiring:
                keys[index].info.state =
                    activation > now
                    ? .retiring(signsUntil: activation, verifyUntil: until)
                    : .retired(verifyUntil: until)
                retiring.append(keys[index].info.kid)
            case .next, .retired, .external:
                break
            }
        }
        let info = TokenKeyInfo(
            kid: kid,
            algorithm: algorithm,
            createdAt: now,
            state: activation > now ? .next(activatesAt: activation) : .active
        )
        keys.append(Entry(info: info, material: material, jwtAlgorithm: jwtAlgorithm))
        entries = keys
        logger.info(
            "token signing key \(event)",
            metadata: [
                "kid": "\(kid)", "alg": "\(algorithm.name)", "activates_at": "\(activation)",
                "retiring": "\(retiring.joined(separator: ","))", "replaced_next": "\(replaced.joined(separator: ","))",
            ]
        )
        return info
    }

    /// Stops a key signing (if it signs, or would) and keeps it verifying until
    /// its retirement end (activation + the longest token lifetime + leeway) of now; a retired key's period is never shortened.
    /// Retiring the signing key leaves the ring without one until the next key's activation,
    /// or the next ``generate(_:activateIn:)`` or ``rotate(activateIn:)``; retiring the next key
    /// cancels the switch (the current key keeps signing). Another issuer's key cannot be
    /// retired, only removed.
    @discardableResult
    public func retire(kid: String) throws(TokenKeyError) -> TokenKeyInfo {
        let now = clock.now()
        var keys = Self.settled(entries, at: now)
        guard let index = keys.firstIndex(where: { $0.info.kid == kid }) else {
            throw TokenKeyError(.unknownKid, "no key has kid \(kid)")
        }
        let until = retirementEnd(signingStops: now, now: now)
        switch keys[index].info.state {
        case .external:
            throw TokenKeyError(.invalidKey, "\(kid) is another issuer's key: it never signs; `remove` stops trusting it")
        case .retired(let current) where current >= until:
            return keys[index].info
        case .retired(let current), .retiring(_, let current):
            keys[index].info.state = .retired(verifyUntil: max(current, until))
        case .next:
            keys[index].info.state = .retired(verifyUntil: until)
            Self.cancelSwitch(&keys)
        case .active:
            keys[index].info.state = .retired(verifyUntil: until)
        }
        entries = keys
        logger.info("token key retired", metadata: ["kid": "\(kid)"])
        return keys[index].info
    }

    /// Removes a key at once: tokens naming it are refused from now on (for a compromised key).
    /// Removing the next key cancels the switch (the current key keeps signing).
    @discardableResult
    public func remove(kid: String) throws(TokenKeyError) -> TokenKeyInfo {
        var keys = Self.settled(entries, at: clock.now())
        guard let index = keys.firstIndex(where: { $0.info.kid == kid }) else {
            throw TokenKeyError(.unknownKid, "no key has kid \(kid)")
        }
        let removed = keys.remove(at: index).info
        if removed.state.isNext { Self.cancelSwitch(&keys) }
        entries = keys
        logger.notice("token key removed", metadata: ["kid": "\(kid)"])
        return removed
    }

    /// Every key with its state at the clock's time, oldest first.
    public func list() -> [TokenKeyInfo] {
        let now = clock.now()
        return entries.map { entry in
            var info = entry.info
            info.state = info.state.resolved(at: now)
            return info
        }
    }

    /// The key that signs now, if any, with its state at the clock's time.
    public func activeKey() -> TokenKeyInfo? {
        let now = clock.now()
        return list().last { $0.signs(at: now) }
    }

    /// The key published to sign from a later time, if any.
    public func nextKey() -> TokenKeyInfo? {
        list().last { $0.state.isNext }
    }

    /// Drops retired keys whose verification period ended at or before `now` (default: the
    /// clock's time); returns them.
    @discardableResult
    public func prune(now: Date? = nil) -> [TokenKeyInfo] {
        let now = now ?? clock.now()
        let expired = entries.filter { !$0.info.verifies(at: now) }.map(\.info)
        guard !expired.isEmpty else { return [] }
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
            try Self.checkImportedKid(kid)
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
        return published.withLock { snapshot in
            guard let found = snapshot.keys.first(where: { $0.named(kid) }), found.info.verifies(at: now) else { return nil }
            return found.key
        }
    }

    /// The key that signs at the clock's time (the newest whose signing period holds it), read
    /// from the snapshot without an actor hop: a next key takes over at its activation time with
    /// no change to the ring.
    nonisolated func signingKey() throws(TokenKeyError) -> SigningKey {
        let now = clock.now()
        let key = published.withLock { snapshot in
            snapshot.signers.last { $0.from <= now && now < $0.until }?.key
        }
        guard let key else {
            throw TokenKeyError(.noActiveKey, "the key ring has no active signing key")
        }
        return key
    }

    /// The JWK Set (RFC 7517 section 5) of the ring's own public keys that verify now, each with
    /// `kid`, `alg` and `use: sig`. Symmetric keys, private members and imported keys never
    /// appear.
    public func jwks() -> String {
        let now = clock.now()
        let keys =
            entries
            .filter { $0.info.state != .external && $0.info.verifies(at: now) }
            .compactMap { $0.material.publicJWK(kid: $0.info.kid, algorithm: $0.info.algorithm) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(["keys": keys]) else { return #"{"keys":[]}"# }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Helpers

    /// Until when a key that stops signing at `stop` keeps verifying, decided at `now`: a server
    /// that has not loaded the key file yet may sign with it until `now +` ``Configuration/keyFilePickup``
    /// whatever `stop` says, and every token signed by then expires within
    /// ``Configuration/maxTokenLifetime``, plus the verifiers' ``Configuration/leeway``.
    func retirementEnd(signingStops stop: Date, now: Date) -> Date {
        max(stop, now.addingTimeInterval(configuration.keyFilePickup))
            .addingTimeInterval(configuration.maxTokenLifetime + configuration.leeway)
    }

    /// `entries` with every state resolved at `now`, so that a change starts from what the ring
    /// is now (a next key whose time has come is active, and so on).
    static func settled(_ entries: [Entry], at now: Date) -> [Entry] {
        entries.map { entry in
            var entry = entry
            entry.info.state = entry.info.state.resolved(at: now)
            return entry
        }
    }

    /// With no next key left, a key scheduled to stop signing for it signs on.
    static func cancelSwitch(_ keys: inout [Entry]) {
        guard !keys.contains(where: { $0.info.state.isNext }) else { return }
        for index in keys.indices {
            if case .retiring = keys[index].info.state {
                keys[index].info.state = .active
            }
        }
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

public import CloakroomCore
public import Foundation
public import Logging

extension TokenKeyRing {
    /// Writes every key to `url` (mode 0600, atomically replaced), sealed under `secret`; see
    /// `KeyFile` for the format. Private and symmetric key material never reaches the disk in
    /// plaintext.
    public func save(to url: URL, secret: KeyEncryptionSecret) throws(TokenKeyError) {
        var stored: [KeyFile.StoredKey] = []
        for entry in entries {
            let info = entry.info
            var key = KeyFile.StoredKey(
                kid: info.kid,
                alg: info.algorithm,
                created: info.createdAt.timeIntervalSince1970,
                state: "active"
            )
            switch info.state {
            case .active:
                key.state = "active"
            case .next(let activation):
                key.state = "next"
                key.activateAt = activation.timeIntervalSince1970
            case .retiring(let end, let until):
                // "active" with an end: a server too old to know next keys keeps signing with it.
                key.state = "active"
                key.signUntil = end.timeIntervalSince1970
                key.verifyUntil = until.timeIntervalSince1970
            case .retired(let until):
                key.state = "retired"
                key.verifyUntil = until.timeIntervalSince1970
            case .external:
                key.state = "external"
            }
            if let secretBytes = entry.material.secretBytes {
                key.secret = Base64URL.encode(secretBytes)
            } else {
                key.jwk = entry.material.publicJWK(kid: info.kid, algorithm: info.algorithm)
            }
            stored.append(key)
        }
        let data = try KeyFile.sealBody(KeyFile.Body(keys: stored), secret: secret)
        try KeyFile.writeFile(data, to: url)
    }

    /// Reads a ring saved by ``save(to:secret:)``.
    ///
    /// Throws `insecure_permissions` if the file has any group or other permission bit,
    /// `wrong_secret` if it does not decrypt with `secret`, `file_access` if it cannot be read.
    public static func load(
        from url: URL,
        secret: KeyEncryptionSecret,
        configuration: Configuration = Configuration(),
        clock: any CloakroomClock = SystemClock(),
        logger: Logger = Logger(label: "cloakroom.tokens")
    ) async throws(TokenKeyError) -> TokenKeyRing {
        let data = try KeyFile.readFile(from: url)
        let body = try KeyFile.openBody(data, secret: secret, path: url.path)
        var entries: [Entry] = []
        var kids = Set<String>()
        for key in body.keys {
            guard kids.insert(key.kid).inserted else {
                throw TokenKeyError(.corruptFile, "\(url.path) lists kid \(key.kid) twice")
            }
            let state: TokenKeyState
            switch (key.state, key.signUntil, key.verifyUntil, key.activateAt) {
            case ("active", nil, _, _): state = .active
            case ("active", let end?, let until?, _):
                state = .retiring(signsUntil: Date(timeIntervalSince1970: end), verifyUntil: Date(timeIntervalSince1970: until))
            case ("next", _, _, let activation?): state = .next(activatesAt: Date(timeIntervalSince1970: activation))
            case ("retired", _, let until?, _): state = .retired(verifyUntil: Date(timeIntervalSince1970: until))
            case ("external", _, _, _): state = .external
            default: throw TokenKeyError(.corruptFile, "\(url.path) has a key in an unknown state")
            }
            let material: KeyMaterial
            if let secret = key.secret {
                guard let bytes = Base64URL.decode(secret) else {
                    throw TokenKeyError(.corruptFile, "\(url.path) has damaged key material")
                }
                material = try KeyMaterial(secretBytes: bytes, algorithm: key.alg)
            } else if let jwk = key.jwk {
                material = try KeyMaterial(jwk: jwk.publicKey, algorithm: key.alg)
            } else {
                throw TokenKeyError(.corruptFile, "\(url.path) has a key without material")
            }
            let info = TokenKeyInfo(
                kid: key.kid,
                algorithm: key.alg,
                createdAt: Date(timeIntervalSince1970: key.created),
                state: state
            )
            entries.append(Entry(info: info, material: material, jwtAlgorithm: try await material.jwtAlgorithm(for: key.alg)))
        }
        let current = entries.filter { entry in
            switch entry.info.state {
            case .active, .retiring: true
            case .next, .retired, .external: false
            }
        }
        guard current.count <= 1, entries.filter({ $0.info.state.isNext }).count <= 1 else {
            throw TokenKeyError(.corruptFile, "\(url.path) has more than one active key, or more than one next key")
        }
        return TokenKeyRing(configuration: configuration, clock: clock, logger: logger, entries: entries)
    }

    /// Loads the ring at `url`, or, if there is no file there, creates a ring with one active key
    /// of the configured algorithm and saves it.
    public static func loadOrCreate(
        at url: URL,
        secret: KeyEncryptionSecret,
        configuration: Configuration = Configuration(),
        clock: any CloakroomClock = SystemClock(),
        logger: Logger = Logger(label: "cloakroom.tokens")
    ) async throws(TokenKeyError) -> TokenKeyRing {
        if FileManager.default.fileExists(atPath: url.path) {
            return try await load(from: url, secret: secret, configuration: configuration, clock: clock, logger: logger)
        }
        let ring = TokenKeyRing(configuration: configuration, clock: clock, logger: logger)
        try await ring.generate()
        try await ring.save(to: url, secret: secret)
        return ring
    }
}

extension TokenKeyRing {
    /// Replaces the keys with those in the file at `url` (after `cloakroom keys rotate` or a
    /// deployment changed it), keeping this ring's configuration. On any error the keys stay as
    /// they were. A next key's switch needs no reload: it happens at its activation time.
    public func reload(from url: URL, secret: KeyEncryptionSecret) async throws(TokenKeyError) {
        let fresh = try await TokenKeyRing.load(from: url, secret: secret, configuration: configuration, clock: clock, logger: logger)
        entries = await fresh.entries
    }
}

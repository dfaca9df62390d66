public import CloakroomCore
import CloakroomSessions
public import CloakroomTokens
public import Foundation

/// Token state in Redis, beside the sessions and under the same key prefix, so every node sees the
/// same refresh-token families, epochs and deny-list.
///
/// Layout (`P` is `RedisConfiguration.keyPrefix`; every token-state key starts with `P r`, so one
/// `SCAN MATCH P r*` finds them all and nothing of the sessions):
/// - `P r:<key>` — a hash per refresh token: `family`, `user`, `client`, `scope`, and integer
///   milliseconds `issued`, `exp`, `fexp` (family end), `used` (absent while live).
///   `PEXPIREAT max(exp, server now + expiryGrace)`; a used token keeps its expiry, so a second use
///   is recognised until then.
/// - `P rf:<familyID>` — a set of the family's token keys; `P ru:<userID>` — a set of the user's
///   family IDs. Each expires with its newest member (`PEXPIREAT` raised to the latest member's).
/// - `P re:<userID>` — the revocation epoch, the string `<epoch>:<keepUntil ms>`;
///   `P rd:<jti>` — a denied token ID, the string `<until ms>` (a denied sign-in is
///   `P rd:sid:<familyID>`). Each `PEXPIREAT` its time (with the same grace), raised only, never
///   lowered.
///
/// Insert, rotation (with reuse → delete the family), family and per-user revocation, epoch raise
/// and deny are each one Lua script (`EVALSHA`), so they are atomic. `revocationState` is one
/// `MGET` (epoch, `jti` entry, `sid` entry). Liveness is decided by the `now` callers pass, from
/// the stored times; the TTL only frees memory and never fires before a record's own expiry (see
/// `RedisConfiguration.expiryGrace`).
/// `deleteExpired` walks `P r*` with `SCAN` (never `KEYS`) and removes what is expired at `now` but
/// still held by Redis (within its grace, or written with a clock behind the server's); Redis
/// expires the rest by itself. Errors are `StoreError.unavailable`.
public struct RedisTokenStore: TokenStore, KeyTaggedStore {
    let client: RedisClient

    /// Creates a store on `database`'s connections and key prefix (shared with its other stores).
    public init(database: CloakroomRedisDatabase) {
        self.client = database.client
    }

    /// On a cluster, a user's token state shares one slot, and refresh tokens and family IDs must
    /// carry the user's tag (`TokenService` makes them so); standalone Redis takes any.
    public var requiresKeyTags: Bool { client.cluster != nil }

    /// The prefix of `tag`'s slot: `P` standalone, `P{tag}` on a cluster.
    private func prefix(_ tag: KeyTag?) throws -> String { try client.prefix(tag: tag) }
    private func tokenPrefix(_ key: String) throws -> String { try prefix(KeyTag(key: key)) }
    private func userPrefix(_ userID: String) throws -> String { try prefix(KeyTag(user: userID)) }
    private func tokenKey(_ key: String) throws -> String { try tokenPrefix(key) + "r:" + key }
    /// A deny-list entry: one key on its own, so it needs no tag.
    private func deniedKey(_ tokenID: String) -> String { client.configuration.keyPrefix + "rd:" + tokenID }

    /// On a cluster, refuses what would put one user's token state in two slots.
    private func checkPlacement(_ tags: [KeyTag?], of userID: String) throws {
        guard requiresKeyTags else { return }
        let expected = KeyTag(user: userID)
        guard tags.allSatisfy({ $0 == expected }) else {
            throw StoreError.unsupported("keep a refresh token or family not tagged for its user (Redis Cluster; see KeyTag)")
        }
    }
    private var grace: String { String(RedisSessionStore.milliseconds(client.configuration.expiryGrace)) }

    public func insertRefreshToken(_ record: RefreshTokenRecord) async throws {
        try checkPlacement([KeyTag(key: record.key), KeyTag(taggedText: record.familyID)], of: record.userID)
        let prefix = try userPrefix(record.userID)
        let reply = try await run(
            Self.insertScript,
            keys: [prefix + "r:" + record.key],
            arguments: [
                prefix, record.key, record.familyID, record.userID, record.clientID, record.scope,
                RedisSessionStore.ms(record.issuedAt), RedisSessionStore.ms(record.expiresAt),
                RedisSessionStore.ms(record.familyExpiresAt), record.usedAt.map(RedisSessionStore.ms) ?? "", grace,
            ]
        )
        if reply.int == 0 { throw StoreError.duplicateKey() }
    }

    public func refreshToken(key: String, now: Date) async throws -> RefreshTokenRecord? {
        let reply = try await send(
            RedisCommand(
                "HMGET",
                try tokenKey(key),
                "family",
                "user",
                "client",
                "scope",
                "issued",
                "exp",
                "fexp",
                "used"
            )
        )
        guard let fields = reply.array, fields.count == 8 else { throw StoreError.unavailable("unexpected reply from redis") }
        guard fields[0] != .null else { return nil }
        let record = try Self.record(key: key, fields)
        return record.expiresAt > now ? record : nil
    }

    public func rotateRefreshToken(key: String, newKey: String, now: Date, lifetime: TimeInterval) async throws -> RefreshRotation {
        let successorExpiry = now.addingTimeInterval(max(lifetime, 0))
        let prefix = try tokenPrefix(key)
        if requiresKeyTags && KeyTag(key: newKey) != KeyTag(key: key) {
            throw StoreError.unsupported("rotate a refresh token to a successor tagged for another slot (Redis Cluster; see KeyTag)")
        }
        let reply = try await run(
            Self.rotateScript,
            keys: [prefix + "r:" + key, prefix + "r:" + newKey],
            arguments: [prefix, newKey, RedisSessionStore.ms(now), RedisSessionStore.ms(successorExpiry), grace]
        )
        guard let values = reply.array, let outcome = values.first?.int else {
            throw StoreError.unavailable("unexpected reply from redis")
        }
        switch (outcome, values.count) {
        case (0, _):
            return .invalid
        case (1, 8):
            // family, user, client, scope, issued, exp, fexp of the successor.
            return .rotated(successor: try Self.record(key: newKey, Array(values[1...]) + [.null]))
        case (2, 9):
            return .reused(try Self.record(key: key, Array(values[1...])))
        case (3, _):
            throw StoreError.duplicateKey()
        default:
            throw StoreError.unavailable("unexpected reply from redis")
        }
    }

    public func revokeFamily(_ familyID: String) async throws -> Int {
        let tag = KeyTag(taggedText: familyID)
        // On a cluster every family carries its user's tag: one without was never stored.
        if requiresKeyTags && tag == nil { return 0 }
        let prefix = try prefix(tag)
        let reply = try await run(Self.revokeFamilyScript, keys: [prefix + "rf:" + familyID], arguments: [prefix, familyID])
        return Int(reply.int ?? 0)
    }

    public func revokeRefreshTokens(forUser userID: String) async throws -> Int {
        let prefix = try userPrefix(userID)
        let reply = try await run(Self.revokeUserScript, keys: [prefix + "ru:" + userID], arguments: [prefix])
        return Int(reply.int ?? 0)
    }

    /// One script: the user's families, each family's tokens, each token's fields.
    public func refreshTokens(forUser userID: String, now: Date) async throws -> [RefreshTokenRecord] {
        let prefix = try userPrefix(userID)
        let reply = try await run(Self.listUserScript, keys: [prefix + "ru:" + userID], arguments: [prefix])
        guard let values = reply.array, values.count % 9 == 0 else { throw StoreError.unavailable("unexpected reply from redis") }
        var records: [RefreshTokenRecord] = []
        for start in stride(from: 0, to: values.count, by: 9) {
            guard let key = values[start].string else { throw StoreError.unavailable("unexpected reply from redis") }
            let record = try Self.record(key: key, Array(values[(start + 1)..<(start + 9)]))
            if record.userID == userID, record.expiresAt > now { records.append(record) }
        }
        return records
    }

    public func raiseEpoch(forUser userID: String, to epoch: Int, keepUntil: Date) async throws {
        _ = try await run(
            Self.raiseEpochScript,
            keys: [try userPrefix(userID) + "re:" + userID],
            arguments: [String(epoch), RedisSessionStore.ms(keepUntil), grace]
        )
    }

    public func denyTokenID(_ tokenID: String, until: Date) async throws {
        _ = try await run(Self.denyScript, keys: [deniedKey(tokenID)], arguments: [RedisSessionStore.ms(until), grace])
    }

    /// One `MGET` of the epoch, the `jti` entry and (with a `sessionID`) the sign-in's entry (on a
    /// cluster, the three `GET`s at once).
    public func revocationState(userID: String, tokenID: String, sessionID: String?, now: Date) async throws -> RevocationState {
        var keys = [try userPrefix(userID) + "re:" + userID, deniedKey(tokenID)]
        if let sessionID { keys.append(deniedKey(RevocationState.deniedID(sessionID: sessionID))) }
        let values: [RESPValue]
        if requiresKeyTags {
            // The keys are in different slots: one GET each, sent to each key's primary at once.
            values = try await pipeline(keys.map { RedisCommand("GET", $0) })
        } else {
            let reply = try await send(RedisCommand(["MGET"] + keys))
            guard let array = reply.array, array.count == keys.count else { throw StoreError.unavailable("unexpected reply from redis") }
            values = array
        }
        let nowMs = RedisSessionStore.milliseconds(now)
        var epoch = 0
        if let text = values[0].string {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let value = Int(parts[0]), let until = Int64(parts[1]) else {
                throw StoreError.unavailable("malformed revocation epoch in redis")
            }
            if until > nowMs { epoch = value }
        }
        func isDenied(_ value: RESPValue) throws -> Bool {
            guard let text = value.string else { return false }
            guard let until = Int64(text) else { throw StoreError.unavailable("malformed deny-list entry in redis") }
            return until > nowMs
        }
        return RevocationState(
            epoch: epoch,
            denied: try isDenied(values[1]),
            sessionDenied: try values.count > 2 && isDenied(values[2])
        )
    }

    public func deleteExpired(now: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let base = client.configuration.keyPrefix
        let escaped = RedisSessionStore.globEscaped(base)
        // Standalone: `P r*`. On a cluster: the tagged state `P{*}r*`, then the deny-list `P rd:*`.
        let patterns = requiresKeyTags ? [escaped + "\\{*\\}r*", escaped + "rd:*"] : [escaped + "r*"]
        var removed = 0
        for pattern in patterns where removed < limit {
            try await client.scan(matching: pattern) { names in
                // One script per slot: the keys of one prefix (`P` or `P{tag}`) share it, except
                // untagged deny-list entries on a cluster, each in a slot of its own.
                var groups: [String: [String]] = [:]
                for name in names.map({ String(decoding: $0, as: UTF8.self) }) {
                    let prefix = Self.slotPrefix(of: name, base: base, clustered: requiresKeyTags)
                    groups[requiresKeyTags && prefix == base ? name : prefix, default: []].append(name)
                }
                for keys in groups.values where removed < limit {
                    guard let first = keys.first else { continue }
                    let reply = try await run(
                        Self.deleteExpiredScript,
                        keys: keys,
                        arguments: [
                            Self.slotPrefix(of: first, base: base, clustered: requiresKeyTags), RedisSessionStore.ms(now), String(limit - removed),
                        ]
                    )
                    removed += Int(reply.int ?? 0)
                }
                return removed < limit
            }
        }
        return removed
    }

    /// The prefix a key name was written under: `P{tttt}` for a tagged key on a cluster, else `P`.
    static func slotPrefix(of name: String, base: String, clustered: Bool) -> String {
        guard clustered, name.hasPrefix(base) else { return base }
        let rest = name.dropFirst(base.count)
        guard rest.count > 6, rest.first == "{", KeyTag(hex: rest.dropFirst().prefix(4)) != nil,
            rest.dropFirst(5).first == "}"
        else { return base }
        return base + rest.prefix(6)
    }

    // MARK: - Helpers

    private func run(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RESPValue {
        do {
            return try await client.run(script, keys: keys, arguments: arguments.map { Array($0.utf8) })
        } catch let error as StoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    private func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        do {
            return try await client.pipeline(commands)
        } catch let error as StoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    private func send(_ command: RedisCommand) async throws -> RESPValue {
        do {
            return try await client.send(command)
        } catch let error as StoreError {
            throw StoreError.unavailable(error.message)
        }
    }

    /// A record from `family, user, client, scope, issued, exp, fexp, used` (used may be null).
    private static func record(key: String, _ fields: [RESPValue]) throws -> RefreshTokenRecord {
        func date(_ value: RESPValue) -> Date? {
            value.int.map { Date(timeIntervalSince1970: Double($0) / 1000) }
        }
        guard fields.count == 8, let family = fields[0].string, let user = fields[1].string,
            let client = fields[2].string, let scope = fields[3].string, let issued = date(fields[4]),
            let expires = date(fields[5]), let familyExpires = date(fields[6])
        else { throw StoreError.unavailable("malformed refresh token in redis") }
        return RefreshTokenRecord(
            key: key,
            familyID: family,
            userID: user,
            clientID: client,
            scope: scope,
            issuedAt: issued,
            expiresAt: expires,
            familyExpiresAt: familyExpires,
            usedAt: date(fields[7])
        )
    }
}

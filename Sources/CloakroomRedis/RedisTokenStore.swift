import CloakroomCore
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
public struct RedisTokenStore: TokenStore {
    let client: RedisClient

    /// Creates a store on `database`'s connections and key prefix (shared with its other stores).
    public init(database: CloakroomRedisDatabase) {
        self.client = database.client
    }

    private var prefix: String { client.configuration.keyPrefix }
    private func tokenKey(_ key: String) -> String { prefix + "r:" + key }
    private func familyKey(_ familyID: String) -> String { prefix + "rf:" + familyID }
    private func userKey(_ userID: String) -> String { prefix + "ru:" + userID }
    private func epochKey(_ userID: String) -> String { prefix + "re:" + userID }
    private func deniedKey(_ tokenID: String) -> String { prefix + "rd:" + tokenID }
    private var grace: String { String(RedisSessionStore.milliseconds(client.configuration.expiryGrace)) }

    public func insertRefreshToken(_ record: RefreshTokenRecord) async throws {
        let reply = try await run(
            Self.insertScript,
            keys: [tokenKey(record.key)],
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
                tokenKey(key),
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
        let reply = try await run(
            Self.rotateScript,
            keys: [tokenKey(key), tokenKey(newKey)],
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
        let reply = try await run(Self.revokeFamilyScript, keys: [familyKey(familyID)], arguments: [prefix, familyID])
        return Int(reply.int ?? 0)
    }

    public func revokeRefreshTokens(forUser userID: String) async throws -> Int {
        let reply = try await run(Self.revokeUserScript, keys: [userKey(userID)], arguments: [prefix])
        return Int(reply.int ?? 0)
    }

    public func raiseEpoch(forUser userID: String, to epoch: Int, keepUntil: Date) async throws {
        _ = try await run(
            Self.raiseEpochScript,
            keys: [epochKey(userID)],
            arguments: [String(epoch), RedisSessionStore.ms(keepUntil), grace]
        )
    }

    public func denyTokenID(_ tokenID: String, until: Date) async throws {
        _ = try await run(Self.denyScript, keys: [deniedKey(tokenID)], arguments: [RedisSessionStore.ms(until), grace])
    }

    /// One `MGET` of the epoch, the `jti` entry and (with a `sessionID`) the sign-in's entry.
    public func revocationState(userID: String, tokenID: String, sessionID: String?, now: Date) async throws -> RevocationState {
        var keys = [epochKey(userID), deniedKey(tokenID)]
        if let sessionID { keys.append(deniedKey(RevocationState.deniedID(sessionID: sessionID))) }
        let reply = try await send(RedisCommand(["MGET"] + keys))
        guard let values = reply.array, values.count == keys.count else { throw StoreError.unavailable("unexpected reply from redis") }
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
        let pattern = RedisSessionStore.globEscaped(prefix) + "r*"
        var removed = 0
        var cursor = "0"
        repeat {
            let reply = try await send(RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", "500"))
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let names = parts[1].array else {
                throw StoreError.unavailable("unexpected SCAN reply from redis")
            }
            cursor = next
            let keys = names.compactMap(\.string)
            if !keys.isEmpty {
                let reply = try await run(
                    Self.deleteExpiredScript,
                    keys: keys,
                    arguments: [prefix, RedisSessionStore.ms(now), String(limit - removed)]
                )
                removed += Int(reply.int ?? 0)
            }
        } while cursor != "0" && removed < limit
        return removed
    }

    // MARK: - Helpers

    private func run(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RESPValue {
        do {
            return try await client.run(script, keys: keys, arguments: arguments.map { Array($0.utf8) })
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

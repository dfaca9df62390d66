/// The Lua scripts behind every multi-key change, so each runs atomically on the server.
///
/// Shared conventions: times are integer milliseconds since 1970; `PREFIX` is `ARGV[1]`; the
/// server-side expiry of a session key is `max(exp, server now + grace)` (see
/// `RedisConfiguration.expiryGrace`); a user index member's score is that same instant, and the
/// index expires at its highest score. Members whose score is past on the server clock are pruned
/// whenever the index is written or read; that is exactly when their session key is gone.
extension RedisSessionStore {
    static let luaHelpers = """
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function fmt(n) return string.format('%.0f', n) end
        local function expire_at(exp, grace)
          local floor = now_ms() + grace
          if exp < floor then return floor end
          return exp
        end
        local function index_add(idx, member, at)
          redis.call('ZREMRANGEBYSCORE', idx, '-inf', '(' .. fmt(now_ms()))
          redis.call('ZADD', idx, fmt(at), member)
          local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
          redis.call('PEXPIREAT', idx, fmt(tonumber(top[2])))
        end

        """

    /// KEYS: record. ARGV: prefix, member, json, version, hasUser, user, lastSeen, idle, absolute, grace.
    /// Returns 1, or 0 if the key exists.
    static let insertScript = RedisScript(
        name: "insert",
        source: luaHelpers + """
            if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
            local exp = math.min(tonumber(ARGV[8]), tonumber(ARGV[9]))
            redis.call('HSET', KEYS[1], 'json', ARGV[3], 'version', ARGV[4], 'lastSeen', ARGV[7],
              'idle', ARGV[8], 'abs', ARGV[9], 'exp', fmt(exp))
            local at = expire_at(exp, tonumber(ARGV[10]))
            redis.call('PEXPIREAT', KEYS[1], fmt(at))
            if ARGV[5] == '1' then
              redis.call('HSET', KEYS[1], 'user', ARGV[6])
              index_add(ARGV[1] .. 'u:' .. ARGV[6], ARGV[2], at)
            end
            return 1
            """
    )

    /// KEYS: record. ARGV: prefix, member, expectedVersion, json, version, hasUser, user, lastSeen,
    /// idle, absolute, grace. Returns 1, or 0 when the version differs or the key is missing.
    static let updateScript = RedisScript(
        name: "update",
        source: luaHelpers + """
            if redis.call('HGET', KEYS[1], 'version') ~= ARGV[3] then return 0 end
            local old = redis.call('HGET', KEYS[1], 'user')
            local exp = math.min(tonumber(ARGV[9]), tonumber(ARGV[10]))
            redis.call('HSET', KEYS[1], 'json', ARGV[4], 'version', ARGV[5], 'lastSeen', ARGV[8],
              'idle', ARGV[9], 'abs', ARGV[10], 'exp', fmt(exp))
            local at = expire_at(exp, tonumber(ARGV[11]))
            redis.call('PEXPIREAT', KEYS[1], fmt(at))
            if old and (ARGV[6] ~= '1' or old ~= ARGV[7]) then
              redis.call('ZREM', ARGV[1] .. 'u:' .. old, ARGV[2])
            end
            if ARGV[6] == '1' then
              redis.call('HSET', KEYS[1], 'user', ARGV[7])
              index_add(ARGV[1] .. 'u:' .. ARGV[7], ARGV[2], at)
            else
              redis.call('HDEL', KEYS[1], 'user')
            end
            return 1
            """
    )

    /// KEYS: record. ARGV: prefix, member, lastSeen, idle, grace. Returns 1, or 0 if missing.
    static let touchScript = RedisScript(
        name: "touch",
        source: luaHelpers + """
            local v = redis.call('HMGET', KEYS[1], 'abs', 'user')
            if not v[1] then return 0 end
            local exp = math.min(tonumber(ARGV[4]), tonumber(v[1]))
            redis.call('HSET', KEYS[1], 'lastSeen', ARGV[3], 'idle', ARGV[4], 'exp', fmt(exp))
            local at = expire_at(exp, tonumber(ARGV[5]))
            redis.call('PEXPIREAT', KEYS[1], fmt(at))
            if v[2] then index_add(ARGV[1] .. 'u:' .. v[2], ARGV[2], at) end
            return 1
            """
    )

    /// KEYS: record. ARGV: prefix, member. Returns how many keys were removed (0 or 1).
    static let deleteScript = RedisScript(
        name: "delete",
        source: """
            local user = redis.call('HGET', KEYS[1], 'user')
            local n = redis.call('DEL', KEYS[1])
            if user then redis.call('ZREM', ARGV[1] .. 'u:' .. user, ARGV[2]) end
            return n
            """
    )

    /// KEYS: user index. ARGV: prefix, user, hasExcept, except. Returns how many sessions were removed.
    static let deleteAllScript = RedisScript(
        name: "deleteAll",
        source: """
            local members = redis.call('ZRANGE', KEYS[1], 0, -1)
            local n = 0
            for _, m in ipairs(members) do
              if not (ARGV[3] == '1' and m == ARGV[4]) then
                local k = ARGV[1] .. 's:' .. m
                if redis.call('HGET', k, 'user') == ARGV[2] then n = n + redis.call('DEL', k) end
                redis.call('ZREM', KEYS[1], m)
              end
            end
            return n
            """
    )

    /// KEYS: user index. ARGV: prefix, user. Returns json, lastSeen, idle for each indexed record
    /// (flattened), dropping members whose record is gone or belongs to someone else.
    static let recordsForUserScript = RedisScript(
        name: "recordsForUser",
        source: luaHelpers + """
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. fmt(now_ms()))
            local members = redis.call('ZRANGE', KEYS[1], 0, -1)
            local out = {}
            for _, m in ipairs(members) do
              local v = redis.call('HMGET', ARGV[1] .. 's:' .. m, 'json', 'lastSeen', 'idle', 'user')
              if v[1] and v[4] == ARGV[2] then
                table.insert(out, v[1])
                table.insert(out, v[2] or '')
                table.insert(out, v[3] or '')
              else
                redis.call('ZREM', KEYS[1], m)
              end
            end
            return out
            """
    )

    /// KEYS: candidate records (from `SCAN`). ARGV: prefix, now, limit. Removes up to `limit` of
    /// them whose `exp` is at or before `now`, with their index entries; returns how many.
    /// A key of another type under the prefix is skipped, not an error.
    static let deleteExpiredScript = RedisScript(
        name: "deleteExpired",
        source: """
            local n = 0
            local now = tonumber(ARGV[2])
            local limit = tonumber(ARGV[3])
            for _, k in ipairs(KEYS) do
              if n >= limit then break end
              local v = redis.pcall('HMGET', k, 'exp', 'user')
              if not v.err and v[1] and tonumber(v[1]) and tonumber(v[1]) <= now then
                n = n + redis.call('DEL', k)
                if v[2] then redis.call('ZREM', ARGV[1] .. 'u:' .. v[2], string.sub(k, #ARGV[1] + 3)) end
              end
            end
            return n
            """
    )
}

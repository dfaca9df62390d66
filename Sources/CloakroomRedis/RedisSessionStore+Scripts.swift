/// The Lua scripts behind every multi-key change, so each runs atomically on the server.
///
/// Shared conventions: times are integer milliseconds since 1970; `PREFIX` is `ARGV[1]`; a member
/// is a session's 32-byte key; the server-side expiry of a session key is `max(exp, server now +
/// grace)` (see `RedisConfiguration.expiryGrace`); a user index member's score is that same
/// instant, and the index expires at its highest score. Members whose score is past on the server
/// clock are pruned whenever the index is written or read; that is exactly when their session key
/// is gone. A record's value is `SessionRecord.binaryEncoded()`; the helpers read its fields with
/// Lua's `struct` (1-based offsets: version 1, lastSeen 17, idle 25, absolute 33, the handle's
/// length 49, then the handle, then the user's length and the user).
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
        local function i64(v, at) return (struct.unpack('<i8', v, at)) end
        local function is_record(v) return type(v) == 'string' and #v >= 60 end
        local function exp_of(v) return math.min(i64(v, 25), i64(v, 33)) end
        local function user_of(v)
          local hl = struct.unpack('<I4', v, 49)
          if 57 + hl > #v then return nil end
          local ul = struct.unpack('<I4', v, 53 + hl)
          if ul == 4294967295 then return nil end
          return string.sub(v, 57 + hl, 56 + hl + ul)
        end

        """

    /// KEYS: record. ARGV: prefix, member, value, hasUser, user, grace.
    /// Returns 1, or 0 if the key exists.
    static let insertScript = RedisScript(
        name: "insert",
        source: luaHelpers + """
            local at = expire_at(exp_of(ARGV[3]), tonumber(ARGV[6]))
            if not redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PXAT', fmt(at)) then return 0 end
            if ARGV[4] == '1' then index_add(ARGV[1] .. 'u:' .. ARGV[5], ARGV[2], at) end
            return 1
            """
    )

    /// KEYS: record. ARGV: prefix, member, expectedVersion (8 bytes, little-endian), value,
    /// hasUser, user, grace. Returns 1, or 0 when the version differs or the key is missing.
    static let updateScript = RedisScript(
        name: "update",
        source: luaHelpers + """
            local old = redis.call('GET', KEYS[1])
            if not is_record(old) or string.sub(old, 1, 8) ~= ARGV[3] then return 0 end
            local olduser = user_of(old)
            local at = expire_at(exp_of(ARGV[4]), tonumber(ARGV[7]))
            redis.call('SET', KEYS[1], ARGV[4], 'PXAT', fmt(at))
            if olduser and (ARGV[5] ~= '1' or olduser ~= ARGV[6]) then
              redis.call('ZREM', ARGV[1] .. 'u:' .. olduser, ARGV[2])
            end
            if ARGV[5] == '1' then index_add(ARGV[1] .. 'u:' .. ARGV[6], ARGV[2], at) end
            return 1
            """
    )

    /// KEYS: record. ARGV: prefix, member, lastSeen and idle (16 bytes, little-endian), grace.
    /// Rewrites the two times in place. Returns 1, or 0 if missing.
    static let touchScript = RedisScript(
        name: "touch",
        source: luaHelpers + """
            local v = redis.call('GET', KEYS[1])
            if not is_record(v) then return 0 end
            redis.call('SETRANGE', KEYS[1], 16, ARGV[3])
            local at = expire_at(math.min(i64(ARGV[3], 9), i64(v, 33)), tonumber(ARGV[4]))
            redis.call('PEXPIREAT', KEYS[1], fmt(at))
            local user = user_of(v)
            if user then index_add(ARGV[1] .. 'u:' .. user, ARGV[2], at) end
            return 1
            """
    )

    /// KEYS: record. ARGV: prefix, member. Returns how many keys were removed (0 or 1).
    static let deleteScript = RedisScript(
        name: "delete",
        source: luaHelpers + """
            local v = redis.call('GET', KEYS[1])
            if not v then return 0 end
            local n = redis.call('DEL', KEYS[1])
            if is_record(v) then
              local user = user_of(v)
              if user then redis.call('ZREM', ARGV[1] .. 'u:' .. user, ARGV[2]) end
            end
            return n
            """
    )

    /// KEYS: user index. ARGV: prefix, user, hasExcept, except. Returns how many sessions were removed;
    /// every member but the exception leaves the index, a member naming no record of this layout too.
    static let deleteAllScript = RedisScript(
        name: "deleteAll",
        source: luaHelpers + """
            local members = redis.call('ZRANGE', KEYS[1], 0, -1)
            local n = 0
            for _, m in ipairs(members) do
              if not (ARGV[3] == '1' and m == ARGV[4]) then
                local k = ARGV[1] .. 's:' .. m
                -- pcall: a member left by the earlier layout names a hash (not read any more).
                local v = redis.pcall('GET', k)
                if is_record(v) and user_of(v) == ARGV[2] then n = n + redis.call('DEL', k) end
                redis.call('ZREM', KEYS[1], m)
              end
            end
            return n
            """
    )

    /// KEYS: user index. ARGV: prefix, user. Returns member, value for each indexed record
    /// (flattened), dropping members whose record is gone, belongs to someone else or is no record
    /// of this layout.
    static let recordsForUserScript = RedisScript(
        name: "recordsForUser",
        source: luaHelpers + """
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. fmt(now_ms()))
            local members = redis.call('ZRANGE', KEYS[1], 0, -1)
            local out = {}
            for _, m in ipairs(members) do
              local v = redis.pcall('GET', ARGV[1] .. 's:' .. m)
              if is_record(v) and user_of(v) == ARGV[2] then
                table.insert(out, m)
                table.insert(out, v)
              else
                redis.call('ZREM', KEYS[1], m)
              end
            end
            return out
            """
    )

    /// KEYS: candidate records (from `SCAN`). ARGV: prefix, now, limit. Removes up to `limit` of
    /// them whose expiry is at or before `now`, with their index entries; returns how many.
    /// A key of another type or shape under the prefix is skipped, not an error.
    static let deleteExpiredScript = RedisScript(
        name: "deleteExpired",
        source: luaHelpers + """
            local n = 0
            local now = tonumber(ARGV[2])
            local limit = tonumber(ARGV[3])
            for _, k in ipairs(KEYS) do
              if n >= limit then break end
              local v = redis.pcall('GET', k)
              if is_record(v) and exp_of(v) <= now then
                n = n + redis.call('DEL', k)
                local user = user_of(v)
                if user then redis.call('ZREM', ARGV[1] .. 'u:' .. user, string.sub(k, #ARGV[1] + 3)) end
              end
            end
            return n
            """
    )
}

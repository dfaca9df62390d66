/// The Lua scripts behind every token-state change, so each runs atomically on the server.
///
/// Conventions as in `RedisSessionStore+Scripts.swift`: times are integer milliseconds since 1970;
/// a key's server-side expiry is `max(its time, server now + grace)`; `PREFIX` is `ARGV[1]` where
/// a script derives key names (standalone Redis only, not Cluster).
extension RedisTokenStore {
    static let luaHelpers =
        RedisSessionStore.luaHelpers + """
            local function set_add(k, member, at)
              redis.call('SADD', k, member)
              local ttl = redis.call('PTTL', k)
              if ttl < 0 or now_ms() + ttl < at then redis.call('PEXPIREAT', k, fmt(at)) end
            end
            local function delete_family(prefix, family)
              local fk = prefix .. 'rf:' .. family
              local n = 0
              local user = nil
              for _, m in ipairs(redis.call('SMEMBERS', fk)) do
                local k = prefix .. 'r:' .. m
                local v = redis.call('HMGET', k, 'family', 'user')
                if v[1] == family then
                  n = n + redis.call('DEL', k)
                  user = v[2]
                end
              end
              redis.call('DEL', fk)
              if user then redis.call('SREM', prefix .. 'ru:' .. user, family) end
              return n
            end
            local function store_token(prefix, k, member, family, user, client, scope, issued, exp, fexp, grace)
              redis.call('HSET', k, 'family', family, 'user', user, 'client', client, 'scope', scope,
                'issued', issued, 'exp', fmt(exp), 'fexp', fexp)
              local at = expire_at(exp, grace)
              redis.call('PEXPIREAT', k, fmt(at))
              set_add(prefix .. 'rf:' .. family, member, at)
              set_add(prefix .. 'ru:' .. user, family, at)
            end

            """

    /// KEYS: token. ARGV: prefix, key, family, user, client, scope, issued, exp, fexp, used ('' when
    /// live), grace. Returns 1, or 0 if the key exists.
    static let insertScript = RedisScript(
        name: "tokenInsert",
        source: luaHelpers + """
            if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
            store_token(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
              tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[11]))
            if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'used', ARGV[10]) end
            return 1
            """
    )

    /// KEYS: token, successor. ARGV: prefix, successor key, now, now + lifetime, grace.
    /// Returns {0} (missing or expired), {1, family, user, client, scope, issued, exp, fexp} (rotated:
    /// the successor), {2, family, user, client, scope, issued, exp, fexp, used} (reused: the family
    /// is deleted) or {3} (the successor key exists; nothing written).
    static let rotateScript = RedisScript(
        name: "tokenRotate",
        source: luaHelpers + """
            local v = redis.call('HMGET', KEYS[1], 'family', 'user', 'client', 'scope', 'issued', 'exp', 'fexp', 'used')
            local now = tonumber(ARGV[3])
            if not v[1] or tonumber(v[6]) <= now then return {0} end
            if v[8] then
              delete_family(ARGV[1], v[1])
              return {2, v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]}
            end
            if redis.call('EXISTS', KEYS[2]) == 1 then return {3} end
            redis.call('HSET', KEYS[1], 'used', ARGV[3])
            local exp = math.min(tonumber(ARGV[4]), tonumber(v[7]))
            store_token(ARGV[1], KEYS[2], ARGV[2], v[1], v[2], v[3], v[4], ARGV[3], exp, v[7], tonumber(ARGV[5]))
            return {1, v[1], v[2], v[3], v[4], ARGV[3], fmt(exp), v[7]}
            """
    )

    /// KEYS: family set. ARGV: prefix, family. Returns how many tokens were removed.
    static let revokeFamilyScript = RedisScript(
        name: "tokenRevokeFamily",
        source: luaHelpers + """
            return delete_family(ARGV[1], ARGV[2])
            """
    )

    /// KEYS: the user's family set. ARGV: prefix. Returns how many tokens were removed.
    static let revokeUserScript = RedisScript(
        name: "tokenRevokeUser",
        source: luaHelpers + """
            local n = 0
            for _, family in ipairs(redis.call('SMEMBERS', KEYS[1])) do
              n = n + delete_family(ARGV[1], family)
            end
            redis.call('DEL', KEYS[1])
            return n
            """
    )

    /// KEYS: the user's family set. ARGV: prefix. Returns, for each token of each family, its key
    /// and its 8 fields (as `HMGET` gives them), flattened.
    static let listUserScript = RedisScript(
        name: "tokenListUser",
        source: luaHelpers + """
            local out = {}
            for _, family in ipairs(redis.call('SMEMBERS', KEYS[1])) do
              for _, m in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'rf:' .. family)) do
                local v = redis.call('HMGET', ARGV[1] .. 'r:' .. m, 'family', 'user', 'client', 'scope', 'issued', 'exp', 'fexp', 'used')
                if v[1] == family then
                  table.insert(out, m)
                  for i = 1, 8 do table.insert(out, v[i]) end
                end
              end
            end
            return out
            """
    )

    /// KEYS: epoch. ARGV: epoch, keepUntil, grace. Keeps the larger epoch and the later keepUntil.
    static let raiseEpochScript = RedisScript(
        name: "tokenRaiseEpoch",
        source: luaHelpers + """
            local epoch = tonumber(ARGV[1])
            local keep = tonumber(ARGV[2])
            local old = redis.call('GET', KEYS[1])
            if old then
              local e, u = string.match(old, '^(%-?%d+):(%-?%d+)$')
              if e then
                epoch = math.max(epoch, tonumber(e))
                keep = math.max(keep, tonumber(u))
              end
            end
            redis.call('SET', KEYS[1], fmt(epoch) .. ':' .. fmt(keep), 'PXAT', fmt(expire_at(keep, tonumber(ARGV[3]))))
            return 1
            """
    )

    /// KEYS: denied jti. ARGV: until, grace. Keeps the later `until`.
    static let denyScript = RedisScript(
        name: "tokenDeny",
        source: luaHelpers + """
            local untilMs = tonumber(ARGV[1])
            local old = tonumber(redis.call('GET', KEYS[1]) or '')
            if old and old > untilMs then untilMs = old end
            redis.call('SET', KEYS[1], fmt(untilMs), 'PXAT', fmt(expire_at(untilMs, tonumber(ARGV[2]))))
            return 1
            """
    )

    /// KEYS: candidates from `SCAN MATCH P r*`. ARGV: prefix, now, limit. Removes up to `limit`
    /// tokens, epochs and deny-list entries whose time is at or before `now` (a token with its index
    /// entries); index sets are skipped. Returns how many records were removed. A key of another
    /// type is skipped, not an error.
    static let deleteExpiredScript = RedisScript(
        name: "tokenDeleteExpired",
        source: """
            local n = 0
            local prefix = ARGV[1]
            local now = tonumber(ARGV[2])
            local limit = tonumber(ARGV[3])
            local p = #prefix
            for _, k in ipairs(KEYS) do
              if n >= limit then break end
              local kind = string.sub(k, p + 1, p + 3)
              if string.sub(kind, 1, 2) == 'r:' then
                local v = redis.pcall('HMGET', k, 'exp', 'family', 'user')
                if not v.err and v[1] and tonumber(v[1]) and tonumber(v[1]) <= now then
                  n = n + redis.call('DEL', k)
                  if v[2] then
                    local fk = prefix .. 'rf:' .. v[2]
                    redis.call('SREM', fk, string.sub(k, p + 3))
                    if v[3] and redis.call('EXISTS', fk) == 0 then redis.call('SREM', prefix .. 'ru:' .. v[3], v[2]) end
                  end
                end
              elseif kind == 're:' or kind == 'rd:' then
                local v = redis.pcall('GET', k)
                if type(v) == 'string' then
                  local t = tonumber(string.match(v, '(%-?%d+)$'))
                  if t and t <= now then n = n + redis.call('DEL', k) end
                end
              end
            end
            return n
            """
    )
}

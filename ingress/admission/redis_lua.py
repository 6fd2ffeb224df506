"""The Lua scripts of distributed admission (see ``redis_scripts`` for their keys and arguments).

Redis runs a script atomically, so the check and the reservation of every scope of one request
cannot interleave with another instance's. Time comes in ARGV from the caller. Phase one of the
admit script reads and checks every limit (expiring stale leases on the way); only when none
refuses does phase two write, so a refused request leaves no trace.
"""

from __future__ import annotations

__all__ = ["ADMIT_LUA", "SEED_LUA", "SETTLE_LUA"]

# NOTE: Redis formats a Lua number passed to redis.call in exponent notation above ~1e14, which
# INCRBY rejects; amounts are therefore passed through as the ARGV strings, never recomputed.
# ``tonumber`` is used only to compare (doubles are exact below 2^53 micro-dollars).
_LUA_COMMON = """
local function opt(v) if v == '' then return nil end return tonumber(v) end
local function unreserve(bh, bl, id)
  local amount = redis.call('HGET', bh, 'r:' .. id)
  if amount then
    if amount ~= '0' then redis.call('HINCRBY', bh, 'reserved', '-' .. amount) end
    redis.call('HDEL', bh, 'r:' .. id)
  end
  redis.call('ZREM', bl, id)
end
"""

ADMIT_LUA = (
    _LUA_COMMON
    + """
-- KEYS: 5 per limit (rq, tk, pl, b, bl). ARGV: now_ms, id, tokens, cost, lease_until_ms,
-- lease_ms, rate_ttl_s, n, then 6 per limit: rpm, tpm, max_parallel, max_budget, soft_budget,
-- budget_ttl_s (-1: no budget counters, 0: keep forever).
local now, id = tonumber(ARGV[1]), ARGV[2]
local tokens, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(ARGV[8])
local seen, refused_at, refused_kind = {}, 0, ''
for i = 1, n do
  local k, a = (i - 1) * 5, 8 + (i - 1) * 6
  local rpm, tpm, par = opt(ARGV[a + 1]), opt(ARGV[a + 2]), opt(ARGV[a + 3])
  local maxb, soft = opt(ARGV[a + 4]), opt(ARGV[a + 5])
  local s = {0, 0, 0, 0}
  if rpm then s[1] = tonumber(redis.call('GET', KEYS[k + 1]) or '0') end
  if tpm then s[2] = tonumber(redis.call('GET', KEYS[k + 2]) or '0') end
  if tonumber(ARGV[a + 6]) >= 0 then
    local bh, bl = KEYS[k + 4], KEYS[k + 5]
    for _, lease in ipairs(redis.call('ZRANGEBYSCORE', bl, '-inf', now)) do
      unreserve(bh, bl, lease)
    end
    local v = redis.call('HMGET', bh, 'spent', 'reserved', 'soft')
    s[3] = tonumber(v[1] or '0') + tonumber(v[2] or '0')
    if soft and not v[3] and s[3] + cost >= soft then s[4] = 1 end
  end
  local slots = 0
  if par then
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now)
    slots = redis.call('ZCARD', KEYS[k + 3])
  end
  local kind = nil
  if maxb and s[3] + cost > maxb then kind = 'budget'
  elseif rpm and s[1] + 1 > rpm then kind = 'rpm'
  elseif tpm and s[2] > 0 and s[2] + tokens > tpm then kind = 'tpm'
  elseif par and slots >= par then kind = 'max_parallel' end
  if kind and refused_at == 0 then refused_at, refused_kind = i, kind end
  seen[i] = s
end
local out = {0, refused_at, refused_kind}
if refused_at == 0 then
  out[1] = 1
  for i = 1, n do
    local k, a = (i - 1) * 5, 8 + (i - 1) * 6
    local s = seen[i]
    if ARGV[a + 1] ~= '' then
      s[1] = redis.call('INCR', KEYS[k + 1])
      redis.call('EXPIRE', KEYS[k + 1], ARGV[7])
    end
    if ARGV[a + 2] ~= '' then
      s[2] = redis.call('INCRBY', KEYS[k + 2], ARGV[3])
      redis.call('EXPIRE', KEYS[k + 2], ARGV[7])
    end
    if ARGV[a + 3] ~= '' then
      redis.call('ZADD', KEYS[k + 3], ARGV[5], id)
      redis.call('PEXPIRE', KEYS[k + 3], ARGV[6])
    end
    local ttl = tonumber(ARGV[a + 6])
    if ttl >= 0 then
      local bh, bl = KEYS[k + 4], KEYS[k + 5]
      if ARGV[4] ~= '0' then redis.call('HINCRBY', bh, 'reserved', ARGV[4]) end
      redis.call('HSET', bh, 'r:' .. id, ARGV[4])
      redis.call('ZADD', bl, ARGV[5], id)
      if s[4] == 1 then redis.call('HSET', bh, 'soft', '1') end
      if ttl > 0 then
        redis.call('EXPIRE', bh, ttl)
        redis.call('EXPIRE', bl, ttl)
      end
      s[3] = s[3] + cost
    end
  end
end
for i = 1, n do
  for j = 1, 4 do out[#out + 1] = seen[i][j] end
end
return out
"""
)

SETTLE_LUA = (
    _LUA_COMMON
    + """
-- KEYS: 4 per limit (tk, pl, b, bl). ARGV: id, token delta, cost, n, then 3 per limit:
-- has_tpm (0/1), has_parallel (0/1), budget_ttl_s (-1: no budget counters, 0: keep forever).
local id, n = ARGV[1], tonumber(ARGV[4])
for i = 1, n do
  local k, a = (i - 1) * 4, 4 + (i - 1) * 3
  if ARGV[a + 1] == '1' and ARGV[2] ~= '0' and redis.call('EXISTS', KEYS[k + 1]) == 1 then
    redis.call('INCRBY', KEYS[k + 1], ARGV[2])
  end
  if ARGV[a + 2] == '1' then redis.call('ZREM', KEYS[k + 2], id) end
  local ttl = tonumber(ARGV[a + 3])
  if ttl >= 0 then
    unreserve(KEYS[k + 3], KEYS[k + 4], id)
    if ARGV[3] ~= '0' then redis.call('HINCRBY', KEYS[k + 3], 'spent', ARGV[3]) end
    if ttl > 0 and redis.call('EXISTS', KEYS[k + 3]) == 1 then
      redis.call('EXPIRE', KEYS[k + 3], ttl)
    end
  end
end
return 1
"""
)

SEED_LUA = """
-- KEYS: the budget hash. ARGV: spent micros, ttl_s (0: keep forever). Set-if-greater.
local current = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'spent', ARGV[1]) end
if ARGV[2] ~= '0' and redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

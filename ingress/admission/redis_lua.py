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
local function fields(v)
  local t, i = {}, 1
  for f in (v .. ','):gmatch('([^,]*),') do t[i] = f; i = i + 1 end
  return t
end
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
-- ARGV: now_ms, id, tokens, cost, lease_until_ms, lease_ms, rate_ttl_s, n, then one per limit:
-- "rpm,tpm,max_parallel,max_budget,soft_budget,budget_ttl_s" (empty: no such limit;
-- budget_ttl_s -1: no budget counters, 0: keep forever).
-- KEYS, in limit order, only those a limit uses: rq if rpm, tk if tpm, pl if max_parallel,
-- then b and bl if budget_ttl_s >= 0.
-- Reply: "allowed,refused_index,kind" then 4 counters per limit, as one comma-joined string.
local now, id = tonumber(ARGV[1]), ARGV[2]
local tokens, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local n, cursor = tonumber(ARGV[8]), 0
local function take() cursor = cursor + 1; return KEYS[cursor] end
local seen, limits, refused_at, refused_kind = {}, {}, 0, ''
for i = 1, n do
  local f = fields(ARGV[8 + i])
  local rpm, tpm, par = opt(f[1]), opt(f[2]), opt(f[3])
  local maxb, soft, ttl = opt(f[4]), opt(f[5]), tonumber(f[6])
  local k = {ttl = ttl}
  local s = {0, 0, 0, 0}
  if rpm then k.rq = take(); s[1] = tonumber(redis.call('GET', k.rq) or '0') end
  if tpm then k.tk = take(); s[2] = tonumber(redis.call('GET', k.tk) or '0') end
  local slots = 0
  if par then
    k.pl = take()
    redis.call('ZREMRANGEBYSCORE', k.pl, '-inf', now)
    slots = redis.call('ZCARD', k.pl)
  end
  if ttl >= 0 then
    k.b, k.bl = take(), take()
    for _, lease in ipairs(redis.call('ZRANGEBYSCORE', k.bl, '-inf', now)) do
      unreserve(k.b, k.bl, lease)
    end
    local v = redis.call('HMGET', k.b, 'spent', 'reserved', 'soft')
    s[3] = tonumber(v[1] or '0') + tonumber(v[2] or '0')
    if soft and not v[3] and s[3] + cost >= soft then s[4] = 1 end
  end
  local kind = nil
  if maxb and s[3] + cost > maxb then kind = 'budget'
  elseif rpm and s[1] + 1 > rpm then kind = 'rpm'
  elseif tpm and s[2] > 0 and s[2] + tokens > tpm then kind = 'tpm'
  elseif par and slots >= par then kind = 'max_parallel' end
  if kind and refused_at == 0 then refused_at, refused_kind = i, kind end
  seen[i], limits[i] = s, k
end
local out = {'0', tostring(refused_at), refused_kind}
if refused_at == 0 then
  out[1] = '1'
  for i = 1, n do
    local k, s = limits[i], seen[i]
    if k.rq then
      s[1] = redis.call('INCR', k.rq)
      redis.call('EXPIRE', k.rq, ARGV[7])
    end
    if k.tk then
      s[2] = redis.call('INCRBY', k.tk, ARGV[3])
      redis.call('EXPIRE', k.tk, ARGV[7])
    end
    if k.pl then
      redis.call('ZADD', k.pl, ARGV[5], id)
      redis.call('PEXPIRE', k.pl, ARGV[6])
    end
    if k.b then
      if ARGV[4] ~= '0' then redis.call('HINCRBY', k.b, 'reserved', ARGV[4]) end
      redis.call('HSET', k.b, 'r:' .. id, ARGV[4])
      redis.call('ZADD', k.bl, ARGV[5], id)
      if s[4] == 1 then redis.call('HSET', k.b, 'soft', '1') end
      if k.ttl > 0 then
        redis.call('EXPIRE', k.b, k.ttl)
        redis.call('EXPIRE', k.bl, k.ttl)
      end
      s[3] = s[3] + cost
    end
  end
end
for i = 1, n do
  for j = 1, 4 do out[#out + 1] = string.format('%d', seen[i][j]) end
end
return table.concat(out, ',')
"""
)

SETTLE_LUA = (
    _LUA_COMMON
    + """
-- ARGV: id, token delta, cost, n, then one per limit: "has_tpm,has_parallel,budget_ttl_s"
-- (0/1, 0/1, and -1: no budget counters, 0: keep forever).
-- KEYS, in limit order, only those a limit uses: tk if has_tpm, pl if has_parallel, then b and
-- bl if budget_ttl_s >= 0.
local id, n, cursor = ARGV[1], tonumber(ARGV[4]), 0
local function take() cursor = cursor + 1; return KEYS[cursor] end
for i = 1, n do
  local f = fields(ARGV[4 + i])
  if f[1] == '1' then
    local tk = take()
    if ARGV[2] ~= '0' and redis.call('EXISTS', tk) == 1 then
      redis.call('INCRBY', tk, ARGV[2])
    end
  end
  if f[2] == '1' then redis.call('ZREM', take(), id) end
  local ttl = tonumber(f[3])
  if ttl >= 0 then
    local b, bl = take(), take()
    unreserve(b, bl, id)
    if ARGV[3] ~= '0' then redis.call('HINCRBY', b, 'spent', ARGV[3]) end
    if ttl > 0 and redis.call('EXISTS', b) == 1 then redis.call('EXPIRE', b, ttl) end
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

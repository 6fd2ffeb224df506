"""The Lua scripts of distributed admission, and how a request is encoded into KEYS and ARGV.

One ``EVALSHA`` admits a request against every limit (Redis runs a script atomically, so the
check and the reservation of all scopes cannot interleave with another instance's); one more
settles it. The scripts take ``now`` from the caller, so every instance and every test computes
the same windows.

Key layout (``{prefix}`` is a hash tag, so every key of a request maps to one Cluster slot)::

    {prefix}:rq:<scope>:<rate window epoch s>     requests in the 60 s window   (TTL: window + 60 s)
    {prefix}:tk:<scope>:<rate window epoch s>     tokens in the 60 s window     (TTL: window + 60 s)
    {prefix}:pl:<scope>                           ZSET reservation id -> lease expiry ms
    {prefix}:b:<scope>:<budget window epoch s>    HASH spent, reserved, soft, r:<id> -> micros
    {prefix}:bl:<scope>:<budget window epoch s>   ZSET reservation id -> lease expiry ms

Budget hashes expire one window length after their window ends (lifetime budgets keep one hash
per scope). Money and token amounts travel as decimal strings and are only ever added with
``INCRBY`` / ``HINCRBY`` on those strings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from ingress.admission.limits import AdmissionRequest, Limit
from ingress.admission.report import LimitCounts, rate_reset_s
from ingress.admission.result import RefusalKind, Reservation
from ingress.admission.windows import RATE_WINDOW_S, epoch_ms, rate_window_start_s

__all__ = [
    "ADMIT_LUA",
    "SEED_LUA",
    "SETTLE_LUA",
    "AdmitReply",
    "admit_arguments",
    "budget_key",
    "decode_admit",
    "seed_arguments",
    "settle_arguments",
]

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

_KINDS = {kind.value.encode(): kind for kind in RefusalKind}

Arguments = tuple[list[str], list[str]]
"""``(KEYS, ARGV)`` of one script call."""


class AdmitReply:
    """The decoded reply of :data:`ADMIT_LUA`: which limit refused (if any) and every counter."""

    __slots__ = ("counts", "refused_index", "refused_kind")

    def __init__(
        self, refused_index: int, refused_kind: RefusalKind | None, counts: list[LimitCounts]
    ) -> None:
        self.refused_index = refused_index
        self.refused_kind = refused_kind
        self.counts = counts


def budget_key(prefix: str, scope: str, window_start: datetime) -> str:
    """The Redis hash holding one budget window's counters."""
    return f"{{{prefix}}}:b:{scope}:{epoch_ms(window_start) // 1000}"


def admit_arguments(
    prefix: str, request: AdmissionRequest, reservation_id: str, now: datetime, lease_ms: int
) -> Arguments:
    """KEYS and ARGV of :data:`ADMIT_LUA` for one request."""
    now_ms, rate_s = epoch_ms(now), rate_window_start_s(now)
    rate_ttl_s = math.ceil(rate_reset_s(now)) + RATE_WINDOW_S
    keys: list[str] = []
    args = [
        str(now_ms),
        reservation_id,
        str(request.estimated_tokens),
        str(request.reserved_cost_micros),
        str(now_ms + lease_ms),
        str(lease_ms),
        str(rate_ttl_s),
        str(len(request.limits)),
    ]
    for limit in request.limits:
        keys += _rate_keys(prefix, limit.scope, rate_s)
        keys += [f"{{{prefix}}}:pl:{limit.scope}", *_budget_keys(prefix, limit, now)]
        args += [
            _opt(limit.rpm),
            _opt(limit.tpm),
            _opt(limit.max_parallel),
            _opt(limit.max_budget_micros),
            _opt(limit.soft_budget_micros),
            str(_budget_ttl_s(limit, now, now)),
        ]
    return keys, args


def settle_arguments(
    prefix: str, reservation: Reservation, cost_micros: int, tokens: int, now: datetime
) -> Arguments:
    """KEYS and ARGV of :data:`SETTLE_LUA`: the windows are the ones the request was admitted in."""
    request, admitted_at = reservation.request, reservation.admitted_at
    rate_s = rate_window_start_s(admitted_at)
    delta = tokens - request.estimated_tokens
    keys: list[str] = []
    args = [reservation.id, str(delta), str(cost_micros), str(len(request.limits))]
    for limit in request.limits:
        keys += [_rate_keys(prefix, limit.scope, rate_s)[1], f"{{{prefix}}}:pl:{limit.scope}"]
        keys += _budget_keys(prefix, limit, admitted_at)
        args += [
            "1" if limit.tpm is not None else "0",
            "1" if limit.max_parallel is not None else "0",
            str(_budget_ttl_s(limit, admitted_at, now)),
        ]
    return keys, args


def seed_arguments(prefix: str, scope: str, window_start: datetime, spent_micros: int) -> Arguments:
    """KEYS and ARGV of :data:`SEED_LUA`; a seeded window outlives any month plus its retention."""
    ttl_s = 0 if epoch_ms(window_start) == 0 else 62 * 86400
    return [budget_key(prefix, scope, window_start)], [str(spent_micros), str(ttl_s)]


def decode_admit(reply: Sequence[object], limit_count: int) -> AdmitReply:
    """Decode :data:`ADMIT_LUA`'s reply ``[allowed, refused_index, kind, 4 counters per limit]``."""
    refused_index = _int(reply[1])
    kind = _KINDS.get(_bytes(reply[2])) if refused_index else None
    counts = [
        LimitCounts(
            requests=_int(reply[3 + 4 * i]),
            tokens=_int(reply[4 + 4 * i]),
            projected_spend_micros=_int(reply[5 + 4 * i]),
            crossed_soft_budget=_int(reply[6 + 4 * i]) == 1,
        )
        for i in range(limit_count)
    ]
    return AdmitReply(refused_index, kind, counts)


def _rate_keys(prefix: str, scope: str, rate_s: int) -> list[str]:
    return [f"{{{prefix}}}:rq:{scope}:{rate_s}", f"{{{prefix}}}:tk:{scope}:{rate_s}"]


def _budget_keys(prefix: str, limit: Limit, at: datetime) -> list[str]:
    window_start = limit.budget_window_start(at)
    window_s = epoch_ms(window_start) // 1000
    lease_key = f"{{{prefix}}}:bl:{limit.scope}:{window_s}"
    return [budget_key(prefix, limit.scope, window_start), lease_key]


def _budget_ttl_s(limit: Limit, admitted_at: datetime, now: datetime) -> int:
    """-1 without budget counters, 0 for a lifetime budget, else seconds until the window's
    counters may go: the rest of the window plus one window length of retention."""
    if not limit.has_budget:
        return -1
    if limit.budget_duration is None:
        return 0
    remaining_s = (limit.budget_window_end(admitted_at) - now).total_seconds()
    return max(1, math.ceil(remaining_s) + limit.budget_retention_s())


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _int(value: object) -> int:
    if isinstance(value, int):
        return value
    raise TypeError(f"unexpected admission script reply element {value!r}")


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()

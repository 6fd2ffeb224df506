"""The wire format between ``RedisStatsStore`` and Redis: one Lua script per tick.

One tick is one ``EVALSHA``: it applies this instance's batched writes and reads the shared view
back, atomically, so a view never shows half a batch. Keys (``P`` is the key prefix plus the
``{stats}`` hash tag, so every key sits in one Redis Cluster slot):

==========================  ======  ==========================================================
``P:inflight:<instance>``   hash    deployment → in-flight count of one instance, absolute,
                                    expiring after the safety TTL unless rewritten
``P:instances``             set     instance ids that may own an ``inflight`` hash
``P:mreq:<minute>``         hash    deployment → requests started in that minute (TTL 120 s)
``P:mtok:<minute>``         hash    deployment → tokens of calls ended in that minute (TTL 120 s)
``P:ok:<bucket>``           hash    deployment → successes in that health bucket
``P:fail:<bucket>``         hash    deployment → failures in that health bucket
``P:lat`` / ``P:ttft``      hash    deployment → EWMA in ms, as a decimal string
``P:cooldown``              hash    deployment → ``{"until_s": ..., "reason": ...}``
``P:rr``                    hash    model group → round-robin counter (``HINCRBY``)
==========================  ======  ==========================================================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from router_engine.stats.base import Cooldown

__all__ = ["TICK_LUA", "PendingBatch", "RemoteView", "decode_cooldown", "encode_cooldown"]

TICK_LUA = r"""
local p = KEYS[1]
local b = cjson.decode(ARGV[1])

local function incr(key, field, by, ttl)
  if by ~= 0 then
    redis.call('HINCRBY', key, field, by)
    redis.call('EXPIRE', key, ttl)
  end
end

-- 1. this instance's in-flight counts, absolute: a lost batch heals on the next tick
local own = p .. 'inflight:' .. b.instance
redis.call('DEL', own)
local has_inflight = false
for dep, n in pairs(b.inflight) do
  if n > 0 then
    redis.call('HSET', own, dep, n)
    has_inflight = true
  end
end
if has_inflight then
  redis.call('PEXPIRE', own, b.inflight_ttl_ms)
  redis.call('SADD', p .. 'instances', b.instance)
end

-- 2. counters: {minute, dep, requests, tokens} and {bucket, dep, successes, failures}
for _, r in ipairs(b.minute) do
  incr(p .. 'mreq:' .. r[1], r[2], r[3], 120)
  incr(p .. 'mtok:' .. r[1], r[2], r[4], 120)
end
for _, r in ipairs(b.outcome) do
  incr(p .. 'ok:' .. r[1], r[2], r[3], b.bucket_ttl_s)
  incr(p .. 'fail:' .. r[1], r[2], r[4], b.bucket_ttl_s)
end

-- 3. EWMAs: {'lat' or 'ttft', dep, sample, sample, ...}, applied in arrival order
for _, r in ipairs(b.ewma) do
  local key = p .. r[1]
  local v = tonumber(redis.call('HGET', key, r[2]))
  for i = 3, #r do
    if v == nil then v = r[i] else v = b.alpha * r[i] + (1 - b.alpha) * v end
  end
  redis.call('HSET', key, r[2], string.format('%.17g', v))
end

-- 4. cooldowns that a direct write could not deliver
for dep, v in pairs(b.cooldown_set) do redis.call('HSET', p .. 'cooldown', dep, v) end
for _, dep in ipairs(b.cooldown_clear) do redis.call('HDEL', p .. 'cooldown', dep) end

-- 5. the shared view
local function read(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function add_into(acc, key)
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do acc[flat[i]] = (acc[flat[i]] or 0) + tonumber(flat[i + 1]) end
  return #flat
end

local others = {}
for _, inst in ipairs(redis.call('SMEMBERS', p .. 'instances')) do
  if inst ~= b.instance then
    if add_into(others, p .. 'inflight:' .. inst) == 0 then
      -- NOTE: an empty hash does not exist: that instance has nothing in flight, or crashed and
      -- its counts expired. Either way it leaves the set until it writes again.
      redis.call('SREM', p .. 'instances', inst)
    end
  end
end
local ok, fail = {}, {}
for _, bucket in ipairs(b.read_buckets) do
  add_into(ok, p .. 'ok:' .. bucket)
  add_into(fail, p .. 'fail:' .. bucket)
end
return cjson.encode({
  inflight = others,
  mreq = read(p .. 'mreq:' .. b.read_minute),
  mtok = read(p .. 'mtok:' .. b.read_minute),
  ok = ok, fail = fail,
  lat = read(p .. 'lat'), ttft = read(p .. 'ttft'),
  cooldown = read(p .. 'cooldown'),
  rr = read(p .. 'rr'),
})
"""

_MAX_SAMPLES = 64
"""Latency samples kept per deployment between two ticks; older ones add little to an EWMA."""


def encode_cooldown(cooldown: Cooldown) -> str:
    return json.dumps({"until_s": cooldown.until_s, "reason": cooldown.reason})


def decode_cooldown(raw: str) -> Cooldown | None:
    try:
        data = json.loads(raw)
        return Cooldown(until_s=float(data["until_s"]), reason=str(data["reason"]))
    except (ValueError, KeyError, TypeError):
        return None  # NOTE: a malformed entry (hand-edited) must not break routing: ignore it.


@dataclass(slots=True)
class PendingBatch:
    """Writes recorded since the last tick, aggregated so a batch stays small under load."""

    minute: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    """(minute, deployment) → [requests, tokens]."""
    outcome: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    """(health bucket, deployment) → [successes, failures]."""
    ewma: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """('lat' or 'ttft', deployment) → samples in arrival order."""
    outcome_totals: dict[str, list[int]] = field(default_factory=dict)
    """deployment → [successes, failures] over every bucket, so a snapshot reads it in O(1)."""

    def add_minute(self, minute: int, deployment_id: str, requests: int, tokens: int) -> None:
        counts = self.minute.setdefault((minute, deployment_id), [0, 0])
        counts[0] += requests
        counts[1] += tokens

    def add_outcome(self, bucket: int, deployment_id: str, successes: int, failures: int) -> None:
        for counts in (
            self.outcome.setdefault((bucket, deployment_id), [0, 0]),
            self.outcome_totals.setdefault(deployment_id, [0, 0]),
        ):
            counts[0] += successes
            counts[1] += failures

    def add_sample(self, kind: str, deployment_id: str, sample_ms: float) -> None:
        samples = self.ewma.setdefault((kind, deployment_id), [])
        if len(samples) >= _MAX_SAMPLES:
            del samples[0]
        samples.append(sample_ms)

    def counts(self, minute: int, deployment_id: str) -> tuple[int, int, int, int]:
        """``(requests, tokens, successes, failures)`` this batch adds for ``minute``."""
        requests, tokens = self.minute.get((minute, deployment_id), (0, 0))
        successes, failures = self.outcome_totals.get(deployment_id, (0, 0))
        return requests, tokens, successes, failures

    def deployment_ids(self) -> set[str]:
        # every record_start/record_end adds a minute entry, so these are all the ids touched
        return {dep for _, dep in self.minute}

    def to_wire(self) -> dict[str, Any]:
        return {
            "minute": [[str(m), dep, r, t] for (m, dep), (r, t) in self.minute.items()],
            "outcome": [[str(b), dep, s, f] for (b, dep), (s, f) in self.outcome.items()],
            "ewma": [[kind, dep, *samples] for (kind, dep), samples in self.ewma.items()],
        }


def _ints(raw: Any) -> dict[str, int]:
    # NOTE: cjson encodes an empty Lua table as {} and Redis returns hash values as strings.
    return {str(k): int(float(v)) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _floats(raw: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            number = float(value)
            if math.isfinite(number):
                out[str(key)] = number
    return out


@dataclass(frozen=True, slots=True)
class RemoteView:
    """The shared view one tick read, as of ``minute`` (the calendar minute it read)."""

    minute: int = -1
    inflight_others: dict[str, int] = field(default_factory=dict)
    minute_requests: dict[str, int] = field(default_factory=dict)
    minute_tokens: dict[str, int] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    ttft: dict[str, float] = field(default_factory=dict)
    cooldowns: dict[str, Cooldown] = field(default_factory=dict)
    round_robin: MappingProxyType[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def decode(cls, raw: bytes | str, minute: int) -> RemoteView:
        data = json.loads(raw)
        cooldowns = {}
        raw_cooldowns = data.get("cooldown")
        for dep, value in (raw_cooldowns if isinstance(raw_cooldowns, dict) else {}).items():
            cooldown = decode_cooldown(value)
            if cooldown is not None:
                cooldowns[str(dep)] = cooldown
        return cls(
            minute=minute,
            inflight_others=_ints(data.get("inflight")),
            minute_requests=_ints(data.get("mreq")),
            minute_tokens=_ints(data.get("mtok")),
            successes=_ints(data.get("ok")),
            failures=_ints(data.get("fail")),
            latency=_floats(data.get("lat")),
            ttft=_floats(data.get("ttft")),
            cooldowns=cooldowns,
            round_robin=MappingProxyType(_ints(data.get("rr"))),
        )

    def deployment_ids(self) -> set[str]:
        return (
            self.inflight_others.keys()
            | self.minute_requests.keys()
            | self.minute_tokens.keys()
            | self.successes.keys()
            | self.failures.keys()
            | self.latency.keys()
            | self.cooldowns.keys()
        )

"""How a request is encoded into the KEYS and ARGV of the admission scripts, and decoded back.

One ``EVALSHA`` of ``redis_lua.ADMIT_LUA`` admits a request against every limit; one of
``SETTLE_LUA`` settles it. ``now`` travels in ARGV, so every instance and every test computes the
same windows.

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
from datetime import datetime

from ingress.admission.limits import AdmissionRequest, Limit
from ingress.admission.report import LimitCounts, rate_reset_s
from ingress.admission.result import RefusalKind, Reservation
from ingress.admission.windows import RATE_WINDOW_S, epoch_us

__all__ = [
    "AdmitReply",
    "Arguments",
    "admit_arguments",
    "budget_key",
    "decode_admit",
    "seed_arguments",
    "settle_arguments",
]

_KINDS = {kind.value: kind for kind in RefusalKind}
_US_PER_S = 1_000_000
_SEED_TTL_S = 62 * 86400

Arguments = tuple[list[str], list[str]]
"""``(KEYS, ARGV)`` of one script call."""


class AdmitReply:
    """The decoded reply of ``ADMIT_LUA``: which limit refused (if any) and every counter."""

    __slots__ = ("counts", "refused_index", "refused_kind")

    def __init__(
        self, refused_index: int, refused_kind: RefusalKind | None, counts: list[LimitCounts]
    ) -> None:
        self.refused_index = refused_index
        self.refused_kind = refused_kind
        self.counts = counts


def budget_key(prefix: str, scope: str, window_start: datetime) -> str:
    """The Redis hash holding one budget window's counters."""
    return _budget_hash(prefix, scope, epoch_us(window_start))


def admit_arguments(
    prefix: str, request: AdmissionRequest, reservation_id: str, now: datetime, lease_ms: int
) -> Arguments:
    """KEYS and ARGV of ``ADMIT_LUA`` for one request."""
    now_us = epoch_us(now)
    now_ms, rate_s = now_us // 1000, _rate_window_s(now_us)
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
        budget_ttl_s = _budget_ttl_s(limit, now_us, now_us)
        keys += _admit_keys(prefix, limit, rate_s, now_us, budget_ttl_s)
        # PERF: one ARGV per limit, and only the keys it uses: redis-py encodes every argument
        # separately, at about 1 us each.
        args.append(
            f"{_opt(limit.rpm)},{_opt(limit.tpm)},{_opt(limit.max_parallel)},"
            f"{_opt(limit.max_budget_micros)},{_opt(limit.soft_budget_micros)},{budget_ttl_s}"
        )
    return keys, args


def settle_arguments(
    prefix: str, reservation: Reservation, cost_micros: int, tokens: int, now: datetime
) -> Arguments:
    """KEYS and ARGV of ``SETTLE_LUA``: the windows are the ones the request was admitted in."""
    request, admitted_us, now_us = (
        reservation.request,
        epoch_us(reservation.admitted_at),
        epoch_us(now),
    )
    rate_s = _rate_window_s(admitted_us)
    delta = tokens - request.estimated_tokens
    keys: list[str] = []
    args = [reservation.id, str(delta), str(cost_micros), str(len(request.limits))]
    for limit in request.limits:
        has_tpm, has_parallel = limit.tpm is not None, limit.max_parallel is not None
        budget_ttl_s = _budget_ttl_s(limit, admitted_us, now_us)
        if has_tpm:
            keys.append(_rate_keys(prefix, limit.scope, rate_s)[1])
        if has_parallel:
            keys.append(f"{{{prefix}}}:pl:{limit.scope}")
        if budget_ttl_s >= 0:
            keys += _budget_keys(prefix, limit, admitted_us)
        args.append(f"{int(has_tpm)},{int(has_parallel)},{budget_ttl_s}")
    return keys, args


def seed_arguments(prefix: str, scope: str, window_start: datetime, spent_micros: int) -> Arguments:
    """KEYS and ARGV of ``SEED_LUA``; a seeded window outlives any month plus its retention."""
    start_us = epoch_us(window_start)
    ttl_s = 0 if start_us == 0 else _SEED_TTL_S
    return [_budget_hash(prefix, scope, start_us)], [str(spent_micros), str(ttl_s)]


def decode_admit(reply: object, limit_count: int) -> AdmitReply:
    """Decode ``ADMIT_LUA``'s reply ``"allowed,refused_index,kind,<4 counters per limit>"``.

    PERF: one bulk string instead of a RESP array: redis-py's pure-Python parser costs about
    5 us per array element, and a five-limit request has 23.

    Raises:
        TypeError: the reply is not what the script returns (a different script ran).
    """
    if not isinstance(reply, bytes | str):
        raise TypeError(f"unexpected admission script reply {reply!r}")
    fields = (reply.decode() if isinstance(reply, bytes) else reply).split(",")
    if len(fields) != 3 + 4 * limit_count:
        raise TypeError(f"admission script reply has {len(fields)} fields")
    refused_index = int(fields[1])
    kind = _KINDS[fields[2]] if refused_index else None
    numbers = [int(field) for field in fields[3:]]
    counts = [
        LimitCounts(numbers[i], numbers[i + 1], numbers[i + 2], numbers[i + 3] == 1)
        for i in range(0, 4 * limit_count, 4)
    ]
    return AdmitReply(refused_index, kind, counts)


def _rate_window_s(now_us: int) -> int:
    seconds = now_us // _US_PER_S
    return seconds - seconds % RATE_WINDOW_S


def _rate_keys(prefix: str, scope: str, rate_s: int) -> list[str]:
    return [f"{{{prefix}}}:rq:{scope}:{rate_s}", f"{{{prefix}}}:tk:{scope}:{rate_s}"]


def _admit_keys(
    prefix: str, limit: Limit, rate_s: int, now_us: int, budget_ttl_s: int
) -> list[str]:
    """The keys ``ADMIT_LUA`` takes for one limit, in the order it takes them."""
    rate_keys = _rate_keys(prefix, limit.scope, rate_s)
    keys = []
    if limit.rpm is not None:
        keys.append(rate_keys[0])
    if limit.tpm is not None:
        keys.append(rate_keys[1])
    if limit.max_parallel is not None:
        keys.append(f"{{{prefix}}}:pl:{limit.scope}")
    if budget_ttl_s >= 0:
        keys += _budget_keys(prefix, limit, now_us)
    return keys


def _budget_hash(prefix: str, scope: str, start_us: int) -> str:
    return f"{{{prefix}}}:b:{scope}:{start_us // _US_PER_S}"


def _budget_keys(prefix: str, limit: Limit, at_us: int) -> list[str]:
    start_us, _ = limit.budget_bounds_us(at_us)
    lease_key = f"{{{prefix}}}:bl:{limit.scope}:{start_us // _US_PER_S}"
    return [_budget_hash(prefix, limit.scope, start_us), lease_key]


def _budget_ttl_s(limit: Limit, admitted_us: int, now_us: int) -> int:
    """-1 without budget counters, 0 for a lifetime budget, else seconds until the window's
    counters may go: the rest of the window plus one window length of retention."""
    if not limit.has_budget:
        return -1
    if limit.budget_duration is None:
        return 0
    _, end_us = limit.budget_bounds_us(admitted_us)
    remaining_s = -((now_us - end_us) // _US_PER_S)  # ceil((end - now) / 1 s)
    return max(1, remaining_s + limit.budget_retention_s())


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)

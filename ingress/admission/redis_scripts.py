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
from collections.abc import Sequence
from datetime import datetime

from ingress.admission.limits import AdmissionRequest, Limit
from ingress.admission.report import LimitCounts, rate_reset_s
from ingress.admission.result import RefusalKind, Reservation
from ingress.admission.windows import RATE_WINDOW_S, epoch_ms, rate_window_start_s

__all__ = [
    "AdmitReply",
    "Arguments",
    "admit_arguments",
    "budget_key",
    "decode_admit",
    "seed_arguments",
    "settle_arguments",
]

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

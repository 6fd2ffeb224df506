"""Event factories and independent expectations shared by the ledger and projection tests."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec

from schemas.events import (
    EventEnvelope,
    KeyCreated,
    RequestCompleted,
    UsageRecorded,
)

BASE_TIME = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
KEY_IDS = ("key-a", "key-b", "key-c", None)
PLUS_TWO = timezone(timedelta(hours=2))


def usage_event(
    key_id: str | None,
    occurred_at: datetime,
    *,
    request_id: str | None = None,
    prompt: int = 10,
    completion: int = 5,
    cached: int = 0,
    reasoning: int = 0,
    cost_micros: int = 42,
) -> EventEnvelope:
    usage = UsageRecorded(
        key_id=key_id, model_requested="gpt-4o", deployment="openai/gpt-4o", provider="openai",
        model="gpt-4o", prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
        reasoning_tokens=reasoning, cost_micros=cost_micros, price_version="2026-01",
    )
    return EventEnvelope.wrap(
        usage, actor=key_id or "master", request_id=request_id or uuid.uuid4().hex,
        occurred_at=occurred_at,
    )


def completed_event(key_id: str | None, occurred_at: datetime) -> EventEnvelope:
    payload = RequestCompleted(
        key_id=key_id, endpoint="chat.completions", model_requested="gpt-4o",
        deployment="openai/gpt-4o", provider="openai", model="gpt-4o", latency_ms=12.5,
    )
    return EventEnvelope.wrap(payload, actor=key_id or "master", request_id=uuid.uuid4().hex,
                              occurred_at=occurred_at)


def key_created_event(key_id: str, occurred_at: datetime, **fields: Any) -> EventEnvelope:
    payload = KeyCreated(key_id=key_id, key_hash=f"hash-{key_id}", key_prefix=f"sk-llmux-{key_id}",
                         **fields)
    return EventEnvelope.wrap(payload, actor="admin", occurred_at=occurred_at)


def foreign_event(occurred_at: datetime) -> EventEnvelope:
    """An event type this build does not know (a newer publisher): stored and skipped."""
    return EventEnvelope(id=uuid.uuid4(), type="audit.chain.sealed", version=3,
                         occurred_at=occurred_at, actor="system",
                         payload=msgspec.Raw(b'{"head": "abc",  "n": 7}'))


def odd_text_events() -> list[EventEnvelope]:
    """Envelopes whose text needs escaping or is not ASCII, and times in unusual shapes."""
    texts = ("ключ-é", "tab\tnew\nline\r\"q\" back\\slash", "nul\x00 unit\x1f del\x7f",
             "\u2028\u2029 emoji \U0001f600", "")
    times = (BASE_TIME.replace(tzinfo=None), BASE_TIME.astimezone(timezone(timedelta(hours=5.5))),
             BASE_TIME.replace(microsecond=1), BASE_TIME.astimezone(timezone(-timedelta(hours=11))))
    payload = '{"note": "é\\u00e9 \\" \U0001f600", "n": -0.5e3}'
    return [
        EventEnvelope(id=uuid.uuid4(), type=f"odd.{index}", version=index, occurred_at=moment,
                      actor=text, request_id=text or None, payload=msgspec.Raw(payload.encode()))
        for index, (text, moment) in enumerate(zip(texts, (*times, BASE_TIME), strict=True))
    ]


def mixed_log(count: int, seed: int = 7) -> list[EventEnvelope]:
    """``count`` events: mostly usage over three UTC days (some in +02:00), plus other types."""
    rng = random.Random(seed)
    events: list[EventEnvelope] = [key_created_event(k, BASE_TIME) for k in KEY_IDS if k]
    for index in range(count - len(events)):
        moment = BASE_TIME + timedelta(minutes=37 * index)
        if index % 5 == 0:
            moment = moment.astimezone(PLUS_TWO)  # same instant, another offset
        key_id = rng.choice(KEY_IDS)
        kind = rng.random()
        if kind < 0.1:
            events.append(completed_event(key_id, moment))
        elif kind < 0.13:
            events.append(foreign_event(moment))
        else:
            events.append(usage_event(
                key_id, moment, prompt=rng.randint(0, 5000), completion=rng.randint(0, 900),
                cached=rng.randint(0, 100), reasoning=rng.randint(0, 50),
                cost_micros=rng.randint(0, 3_000_000_000),
            ))
    return events


def expected_spend(envelopes: list[EventEnvelope]) -> dict[tuple[str, str], tuple[int, ...]]:
    """(key or "", UTC day) -> (requests, prompt, completion, cached, reasoning, cost), by hand."""
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 6)
    seen: set[uuid.UUID] = set()
    for envelope in envelopes:
        if envelope.type != "usage.recorded" or envelope.id in seen:
            continue
        seen.add(envelope.id)
        usage = msgspec.json.decode(envelope.payload)
        day = envelope.occurred_at.astimezone(UTC).strftime("%Y-%m-%d")
        row = totals[(usage["key_id"] or "", day)]
        for index, name in enumerate(("prompt_tokens", "completion_tokens", "cached_tokens",
                                      "reasoning_tokens", "cost_micros"), start=1):
            row[index] += usage.get(name, 0)
        row[0] += 1
    return {key: tuple(values) for key, values in totals.items()}

"""The envelope every event travels in, on the bus and in the event store.

The envelope is the contract between the hot path that publishes and the ledger that records: its
``id`` is the bus message id (``Nats-Msg-Id``) and the idempotency key, so a redelivered event is
recognised and stored once. The payload stays encoded (``msgspec.Raw``) until a reader asks for it,
so the ledger stores exactly the bytes that were published and a replay reads them back unchanged.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import ClassVar

import msgspec

from schemas.ids import time_ordered_uuid

__all__ = [
    "EVENT_NAMESPACE",
    "EventEnvelope",
    "EventPayload",
    "decode_envelope",
    "derive_event_id",
    "encode_envelope",
    "request_event_id",
]

EVENT_NAMESPACE = uuid.UUID("6f1c2d3e-8a4b-5c6d-9e0f-112233445566")
"""Namespace of the name-based ids of ``derive_event_id`` (``uuid5``)."""


class EventPayload(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every event type's payload.

    Subclasses set ``TYPE`` (dotted, past tense: ``request.completed``) and ``VERSION``. To change a
    payload, raise ``VERSION`` and add ``upcast_v1_v2(payload: dict) -> dict`` as a staticmethod;
    stored events are never edited.
    """

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    @classmethod
    def family(cls) -> str:
        """``request``, ``usage`` or ``admin``: the first part of ``TYPE``, used in bus subjects."""
        return cls.TYPE.split(".", 1)[0]


class EventEnvelope(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One immutable fact.

    # PERF: not tracked by the cyclic garbage collector (``gc=False``; no field can refer back to
    # an envelope, so it can never be part of a cycle). Thousands of envelopes are alive at a time
    # between the outbox, the bus, the ledger and the projections, and the collector re-scanned
    # them in every young collection: gen-1 collections over 1 ms went from 34 to 3 in 25 s at
    # concurrency 1 (docs/performance.md, step 26).
    """

    id: uuid.UUID
    """Unique id; also the bus message id and the idempotency key."""
    type: str
    """Dotted event type, e.g. ``usage.recorded``."""
    version: int
    """Schema version of ``type`` that ``payload`` was written with."""
    occurred_at: datetime
    """UTC, microsecond precision."""
    actor: str
    """Who caused it: a key id, a user id, or ``system``."""
    request_id: str | None = None
    payload: msgspec.Raw = msgspec.Raw(b"{}")
    """The encoded payload, kept as bytes until decoded with the event type registry."""

    @property
    def subject_suffix(self) -> str:
        """``request.completed`` → the bus subject tail (the prefix is configured)."""
        return self.type

    @classmethod
    def wrap(
        cls,
        payload: EventPayload,
        *,
        actor: str,
        request_id: str | None = None,
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> EventEnvelope:
        """Envelope ``payload`` under ``event_id``, or a new time-ordered id.

        The id is never derived from ``request_id``: that is the client's ``x-request-id`` when
        it sent one, which it may reuse, and an event whose id repeats is stored once.
        """
        if event_id is None:
            event_id = time_ordered_uuid()
        when = occurred_at or datetime.now(UTC)
        return cls(
            id=event_id,
            type=payload.TYPE,
            version=payload.VERSION,
            occurred_at=when,
            actor=actor,
            request_id=request_id,
            payload=msgspec.Raw(_ENCODER.encode(payload)),
        )


def request_event_id(request_key: uuid.UUID, event_type: str) -> uuid.UUID:
    """The id of the one event of ``event_type`` that the request drawn ``request_key`` can produce.

    ``request_key`` is a ``time_ordered_uuid()`` the gateway draws for each request. The id keeps
    its first 64 bits (the time and version) and mixes the event type into the random rest, so a
    request's events sort with their time, and publishing one of them twice stores it once.
    """
    return uuid.UUID(int=request_key.int ^ _type_bits(event_type))


@lru_cache(maxsize=256)
def _type_bits(event_type: str) -> int:
    """62 bits that differ per event type, placed below the UUID's variant bits."""
    return int.from_bytes(hashlib.sha1(event_type.encode()).digest()[:8], "big") >> 2


def derive_event_id(name: str, event_type: str) -> uuid.UUID:
    """A name-based id: the same ``(name, event_type)`` always gives the same id.

    Equal to ``uuid.uuid5(EVENT_NAMESPACE, f"{name}/{event_type}")``; for events that must be
    stored once however often, and by whichever instance, they are reported. ``name`` must be the
    gateway's own (a scope, a window, a threshold), never a value a client chose.
    """
    # PERF: uuid5 inlined with the namespace bytes computed once: 2.9 -> 1.9 µs (it was once
    # called twice per request; docs/performance.md, step 6).
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{name}/{event_type}".encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(EventEnvelope)


def encode_envelope(envelope: EventEnvelope) -> bytes:
    """Wire bytes of an envelope (JSON)."""
    return _ENCODER.encode(envelope)


def decode_envelope(data: bytes) -> EventEnvelope:
    """Parse wire bytes; raises ``msgspec.DecodeError`` (a ``ValueError``) on malformed input."""
    return _DECODER.decode(data)


_ = datetime  # NOTE: resolved by msgspec at run time.

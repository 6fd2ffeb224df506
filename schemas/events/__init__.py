"""Event types and their registry.

``EVENT_TYPES`` maps a type name to its payload class. It is written out by hand: a new event type
is added here on purpose, and a test pins the list.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.events.admin import KeyCreated
from schemas.events.envelope import (
    EVENT_NAMESPACE,
    EventEnvelope,
    EventPayload,
    decode_envelope,
    derive_event_id,
    encode_envelope,
)
from schemas.events.request import RequestCompleted, RequestFailed, RequestRejected
from schemas.events.usage import UsageRecorded

__all__ = [
    "EVENT_NAMESPACE",
    "EVENT_TYPES",
    "EventEnvelope",
    "EventPayload",
    "KeyCreated",
    "RequestCompleted",
    "RequestFailed",
    "RequestRejected",
    "UnknownEventType",
    "UsageRecorded",
    "decode_envelope",
    "decode_payload",
    "derive_event_id",
    "encode_envelope",
]

EVENT_TYPES: dict[str, type[EventPayload]] = {
    cls.TYPE: cls
    for cls in (RequestCompleted, RequestFailed, RequestRejected, UsageRecorded, KeyCreated)
}


class UnknownEventType(ValueError):
    """An envelope names a type this build does not know (it is still stored and replayed raw)."""


def decode_payload(envelope: EventEnvelope) -> EventPayload:
    """The typed payload of ``envelope``, upcast from its stored version to the current one."""
    cls = EVENT_TYPES.get(envelope.type)
    if cls is None:
        raise UnknownEventType(envelope.type)
    if envelope.version == cls.VERSION:
        return msgspec.json.decode(envelope.payload, type=cls)
    data: dict[str, Any] = msgspec.json.decode(envelope.payload)
    for version in range(envelope.version, cls.VERSION):
        data = getattr(cls, f"upcast_v{version}_v{version + 1}")(data)
    return msgspec.convert(data, cls)

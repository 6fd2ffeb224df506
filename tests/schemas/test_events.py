"""Events: the envelope round-trips byte for byte, ids are time-ordered, old versions upcast."""

from __future__ import annotations

import gc
import uuid
from typing import Any, ClassVar

import msgspec

from schemas.events import (
    EVENT_TYPES,
    EventEnvelope,
    UsageRecorded,
    decode_envelope,
    decode_payload,
    derive_event_id,
    encode_envelope,
    request_event_id,
)
from schemas.events import envelope as envelope_module
from schemas.ids import time_ordered_uuid


def _usage(**overrides: Any) -> UsageRecorded:
    fields: dict[str, Any] = dict(key_id="k1", model_requested="m", deployment="p/m", provider="p",
                                  model="m", prompt_tokens=10, completion_tokens=5, cost_micros=42)
    return UsageRecorded(**{**fields, **overrides})


def test_event_types_are_pinned() -> None:
    assert sorted(EVENT_TYPES) == [
        "admin.end_user.blocked", "admin.end_user.created", "admin.end_user.deleted",
        "admin.end_user.unblocked", "admin.end_user.updated",
        "admin.key.blocked", "admin.key.created", "admin.key.deleted", "admin.key.regenerated",
        "admin.key.unblocked", "admin.key.updated",
        "admin.organization.created", "admin.organization.deleted",
        "admin.organization.member_added", "admin.organization.member_removed",
        "admin.organization.member_updated", "admin.organization.updated",
        "admin.team.blocked", "admin.team.created", "admin.team.deleted",
        "admin.team.member_added", "admin.team.member_removed", "admin.team.unblocked",
        "admin.team.updated",
        "admin.user.created", "admin.user.deleted", "admin.user.updated",
        "budget.soft_limit_crossed", "gateway.started",
        "request.completed", "request.failed", "request.rejected", "usage.recorded",
    ]
    assert all(cls.VERSION >= 1 for cls in EVENT_TYPES.values())


def test_envelope_round_trips_exactly() -> None:
    envelope = EventEnvelope.wrap(_usage(), actor="key:k1", request_id="req-1")
    data = encode_envelope(envelope)
    decoded = decode_envelope(data)
    assert decoded == envelope
    assert encode_envelope(decoded) == data
    assert decode_payload(decoded) == _usage()


def test_envelopes_are_left_out_of_the_cyclic_garbage_collector() -> None:
    envelope = EventEnvelope.wrap(_usage(), actor="a", request_id="req-7")
    assert not gc.is_tracked(envelope)
    assert not gc.is_tracked(decode_envelope(encode_envelope(envelope)))


def test_an_event_id_is_time_ordered_and_never_derived_from_the_request_id() -> None:
    first = EventEnvelope.wrap(_usage(), actor="a", request_id="req-7")
    again = EventEnvelope.wrap(_usage(), actor="a", request_id="req-7")
    assert first.id.version == 7 and first.id != again.id  # a client may reuse its request id


def test_request_event_ids_are_one_per_request_and_type_and_keep_the_time_order() -> None:
    key, later_key = time_ordered_uuid(), time_ordered_uuid()
    usage = request_event_id(key, "usage.recorded")
    assert usage == request_event_id(key, "usage.recorded")  # published twice, stored once
    completed = request_event_id(key, "request.completed")
    assert len({usage, completed, request_event_id(later_key, "usage.recorded")}) == 3
    for event_id in (usage, completed):
        assert event_id.version == 7 and event_id.variant == uuid.RFC_4122
        assert event_id.int >> 64 == key.int >> 64  # the request's time and version bits


def test_derived_ids_are_uuid5_in_the_event_namespace() -> None:
    """Stored events were written with ``uuid.uuid5``; a replay must derive the same ids."""
    for request_id in ("req-7", "ü" * 40, ""):
        expected = uuid.uuid5(envelope_module.EVENT_NAMESPACE, f"{request_id}/usage.recorded")
        derived = derive_event_id(request_id, "usage.recorded")
        assert derived == expected and derived.version == 5


def test_old_version_is_upcast() -> None:
    class Renamed(envelope_module.EventPayload, frozen=True, kw_only=True):
        TYPE: ClassVar[str] = "usage.recorded"
        VERSION: ClassVar[int] = 2
        tokens: int

        @staticmethod
        def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
            return {"tokens": payload["prompt_tokens"] + payload["completion_tokens"]}

    stored_v1 = EventEnvelope.wrap(_usage(), actor="a", request_id="r")
    original = EVENT_TYPES["usage.recorded"]
    EVENT_TYPES["usage.recorded"] = Renamed
    try:
        assert decode_payload(stored_v1) == Renamed(tokens=15)
    finally:
        EVENT_TYPES["usage.recorded"] = original


def test_payload_bytes_are_kept_raw() -> None:
    envelope = EventEnvelope.wrap(_usage(), actor="a", request_id="r")
    assert msgspec.json.decode(envelope.payload)["cost_micros"] == 42

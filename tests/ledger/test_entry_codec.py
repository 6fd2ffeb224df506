"""The ledger's own codec writes and reads entries exactly as the eventsourcing library does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from eventsourcing.persistence import Notification

from ledger import LedgerApp, LedgerEntry, open_ledger
from ledger.application import sqlite_env
from ledger.entries import RECORDED_TOPIC
from ledger.entry_codec import to_envelope, to_stored_events
from schemas.events import EventEnvelope, encode_envelope
from tests.projections.events import mixed_log, odd_text_events

CREATED = datetime(2026, 11, 24, 14, 44, 40, 812821, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LedgerApp]:
    app = open_ledger(sqlite_path=str(tmp_path / "ledger.db"))
    yield app
    app.close()


@pytest.fixture
def fixed_creation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths stamp entries with ``CREATED`` (the library reads the clock per event)."""
    monkeypatch.setattr(LedgerEntry.Recorded, "create_timestamp", staticmethod(lambda: CREATED))


def _events() -> list[EventEnvelope]:
    return [*mixed_log(40), *odd_text_events()]


@pytest.mark.usefixtures("fixed_creation_time")
def test_stored_events_are_the_library_s_byte_for_byte(ledger: LedgerApp) -> None:
    events = _events()
    library = [
        ledger.mapper.to_stored_event(LedgerEntry.from_envelope(event).collect_events()[0])
        for event in events
    ]
    assert to_stored_events(events) == library


@pytest.mark.usefixtures("fixed_creation_time")
def test_stored_state_format_is_pinned() -> None:
    event = EventEnvelope(
        id=uuid.uuid4(), type="request.completed", version=1,
        occurred_at=datetime(2026, 11, 24, 14, 44, 40, 812000, tzinfo=UTC), actor="key:x",
        request_id="r1", payload=msgspec.Raw(b'{"a":1}'),
    )
    [stored] = to_stored_events([event])
    assert (stored.originator_id, stored.originator_version, stored.topic) == (
        event.id, 1, "ledger.entries:LedgerEntry.Recorded")
    assert stored.state == (
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-24T14:44:40.812821+00:00"},'
        b'"originator_topic":"ledger.entries:LedgerEntry","event_type":"request.completed",'
        b'"schema_version":1,"occurred_at":{"_type_":"datetime_iso",'
        b'"_data_":"2026-11-24T14:44:40.812000+00:00"},"actor":"key:x","request_id":"r1",'
        b'"payload":"{\\"a\\":1}"}'
    )


def test_notifications_decode_as_the_library_decodes_them(ledger: LedgerApp) -> None:
    events = _events()
    ledger.save(*(LedgerEntry.from_envelope(event) for event in events))  # the library's path
    notifications = ledger.recorder.select_notifications(start=1, limit=100)
    assert len(notifications) == len(events)
    for notification, event in zip(notifications, events, strict=True):
        library: Any = ledger.mapper.to_domain_event(notification)
        fast = to_envelope(notification)
        assert fast is not None
        assert encode_envelope(fast) == encode_envelope(library.to_envelope())
        assert encode_envelope(fast) == encode_envelope(event)
        assert fast.occurred_at.utcoffset() == event.occurred_at.utcoffset()


@pytest.mark.parametrize("state", [
    b'{"event_type":"x"}',
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-24T14:44:40+00:00"},'
    b'"originator_topic":"ledger.entries:LedgerEntry","event_type":"x","schema_version":1,'
    b'"occurred_at":{"_type_":"other","_data_":"t"},"actor":"a","request_id":null,"payload":"{}"}',
    b'not json',
])
def test_a_state_of_another_shape_is_left_to_the_library(state: bytes) -> None:
    notification = Notification(id=1, originator_id=uuid.uuid4(), originator_version=1,
                                topic=RECORDED_TOPIC, state=state)
    assert to_envelope(notification) is None


def test_text_entry_ids_are_left_to_the_library() -> None:
    [stored] = to_stored_events(odd_text_events()[:1])
    notification = Notification(id=1, originator_id=str(stored.originator_id),
                                originator_version=1, topic=RECORDED_TOPIC, state=stored.state)
    assert to_envelope(notification) is None


def test_a_compressing_or_encrypting_store_is_refused(tmp_path: Path) -> None:
    env = {**sqlite_env(str(tmp_path / "ledger.db")),
           "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
    with pytest.raises(ValueError, match="compressor"):
        LedgerApp(env)

"""Contract of the event store, run on SQLite and on Postgres: idempotent batches, exact bytes."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from ledger import LedgerApp, LedgerEntry, LedgerUnavailable, open_ledger
from schemas.events import (
    EventEnvelope,
    UsageRecorded,
    decode_envelope,
    decode_payload,
    encode_envelope,
)
from tests.projections.events import (
    BASE_TIME,
    foreign_event,
    mixed_log,
    odd_text_events,
    usage_event,
)

# A stored entry exactly as the first ledger release wrote it (topic and state bytes), and the wire
# envelope it came from. Stored events are never edited: this must replay forever.
OLD_WIRE = (
    b'{"id":"0b5b7c1e-3a55-5d1e-9f00-2c6a1e9d4b11","type":"usage.recorded","version":1,'
    b'"occurred_at":"2025-12-31T23:59:59.999999Z","actor":"key-old","request_id":"req-old-1",'
    b'"payload":{"key_id":"key-old","model_requested":"gpt-4o","deployment":"openai/gpt-4o",'
    b'"provider":"openai","model":"gpt-4o","prompt_tokens":1200,"completion_tokens":300,'
    b'"cost_micros":4500}}'
)
OLD_TOPIC = "ledger.entries:LedgerEntry.Recorded"
OLD_STATE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-24T11:55:29.077626+00:00"},'
    b'"originator_topic":"ledger.entries:LedgerEntry","event_type":"usage.recorded",'
    b'"schema_version":1,"occurred_at":{"_type_":"datetime_iso",'
    b'"_data_":"2025-12-31T23:59:59.999999+00:00"},"actor":"key-old","request_id":"req-old-1",'
    b'"payload":"{\\"key_id\\":\\"key-old\\",\\"model_requested\\":\\"gpt-4o\\",'
    b'\\"deployment\\":\\"openai/gpt-4o\\",\\"provider\\":\\"openai\\",\\"model\\":\\"gpt-4o\\",'
    b'\\"prompt_tokens\\":1200,\\"completion_tokens\\":300,\\"cost_micros\\":4500}"}'
)


def _wire(envelopes: list[EventEnvelope]) -> list[bytes]:
    return [encode_envelope(envelope) for envelope in envelopes]


def _all(app: LedgerApp) -> list[tuple[int, EventEnvelope]]:
    return app.read_envelopes(1, 10_000)


class LedgerContract:
    """Subclasses provide ``location``: the keyword arguments of ``open_ledger``."""

    @pytest.fixture
    def location(self) -> dict[str, str]:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self, location: dict[str, str]) -> Iterator[LedgerApp]:
        app = open_ledger(**location)
        yield app
        app.close()

    def test_batch_is_recorded_in_order_with_identical_bytes(self, ledger: LedgerApp) -> None:
        events = mixed_log(40)
        assert ledger.record(events) == 40
        stored = _all(ledger)
        assert _wire([envelope for _, envelope in stored]) == _wire(events)
        positions = [position for position, _ in stored]
        assert positions == sorted(positions) and len(set(positions)) == 40
        assert ledger.max_position() == positions[-1]

    def test_redelivered_batch_is_stored_once(self, ledger: LedgerApp) -> None:
        events = mixed_log(30)
        assert ledger.record(events) == 30
        top = ledger.max_position()
        assert ledger.record(events) == 0
        assert ledger.record(list(reversed(events))) == 0
        assert len(_all(ledger)) == 30
        assert ledger.max_position() == top

    def test_overlapping_batches_store_only_new_events(self, ledger: LedgerApp) -> None:
        a, b, c, d = (usage_event("key-a", BASE_TIME, request_id=f"r{i}") for i in range(4))
        assert ledger.record([a, b]) == 2
        assert ledger.record([b, c, c, d, a]) == 2
        assert [envelope.id for _, envelope in _all(ledger)] == [a.id, b.id, c.id, d.id]

    def test_duplicates_inside_one_batch_are_stored_once(self, ledger: LedgerApp) -> None:
        event = usage_event("key-a", BASE_TIME)
        copy = decode_envelope(encode_envelope(event))
        assert ledger.record([event, copy, event]) == 1
        assert len(_all(ledger)) == 1

    def test_read_envelopes_pages_from_a_position(self, ledger: LedgerApp) -> None:
        events = mixed_log(25)
        ledger.record(events[:10])
        ledger.record(events[10:])
        first = ledger.read_envelopes(1, 10)
        rest = ledger.read_envelopes(first[-1][0] + 1, 100)
        assert len(first) == 10 and len(rest) == 15
        assert _wire([e for _, e in first + rest]) == _wire(events)
        assert ledger.read_envelopes(rest[-1][0] + 1, 10) == []

    def test_unknown_event_types_are_kept_raw(self, ledger: LedgerApp) -> None:
        event = foreign_event(BASE_TIME)
        ledger.record([event])
        [(_, stored)] = _all(ledger)
        assert bytes(stored.payload) == b'{"head": "abc",  "n": 7}'
        assert encode_envelope(stored) == encode_envelope(event)

    def test_events_survive_reopening(self, ledger: LedgerApp, location: dict[str, str]) -> None:
        events = mixed_log(12)
        ledger.record(events)
        ledger.close()
        reopened = open_ledger(**location)
        try:
            assert _wire([e for _, e in _all(reopened)]) == _wire(events)
            assert reopened.record(events) == 0
        finally:
            reopened.close()

    def test_old_stored_entry_still_replays(self, ledger: LedgerApp) -> None:
        old = decode_envelope(OLD_WIRE)
        stored = StoredEvent(originator_id=old.id, originator_version=1, topic=OLD_TOPIC,
                             state=OLD_STATE)
        ledger.recorder.insert_events([stored])
        [(_, replayed)] = _all(ledger)
        assert encode_envelope(replayed) == OLD_WIRE
        usage = decode_payload(replayed)
        assert isinstance(usage, UsageRecorded)
        assert (usage.prompt_tokens, usage.cached_tokens, usage.cost_micros) == (1200, 0, 4500)
        assert replayed.occurred_at == datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
        assert ledger.record([old]) == 0  # the old entry still guards its id

    def test_entries_saved_by_the_library_read_back_identically(self, ledger: LedgerApp) -> None:
        events = [*mixed_log(20), *odd_text_events()]
        ledger.save(*(LedgerEntry.from_envelope(event) for event in events))
        assert _wire([envelope for _, envelope in _all(ledger)]) == _wire(events)
        assert ledger.record(events) == 0

    def test_the_library_rebuilds_recorded_entries(self, ledger: LedgerApp) -> None:
        events = [*mixed_log(20), *odd_text_events()]
        assert ledger.record(events) == len(events)
        for event in events:
            entry: Any = ledger.repository.get(event.id)
            assert isinstance(entry, LedgerEntry) and (entry.id, entry.version) == (event.id, 1)
            assert (entry.event_type, entry.schema_version, entry.actor, entry.request_id) == (
                event.type, event.version, event.actor, event.request_id)
            assert entry.occurred_at == event.occurred_at
            assert entry.occurred_at.utcoffset() == event.occurred_at.utcoffset()
            assert entry.payload.encode() == bytes(event.payload)

    def test_listeners_are_told_each_new_batch_as_it_reads_back(self, ledger: LedgerApp) -> None:
        told: list[list[tuple[int, EventEnvelope]]] = []
        ledger.add_listener(lambda entries: told.append(list(entries)))
        events = mixed_log(30)
        ledger.record(events[:10])
        ledger.record(events[:10])  # redelivered: nothing new, nothing told
        ledger.record(events[5:30])  # overlapping: only the new ones
        assert [len(batch) for batch in told] == [10, 20]
        heard = [entry for batch in told for entry in batch]
        stored = _all(ledger)
        assert [position for position, _ in heard] == [position for position, _ in stored]
        assert _wire([e for _, e in heard]) == _wire([e for _, e in stored]) == _wire(events)

    def test_configuration_never_comes_from_the_environment(
        self, location: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Read from os.environ, these would make the library skip creating tables.
        monkeypatch.setenv("CREATE_TABLE", "no")
        monkeypatch.setenv("LEDGER_CREATE_TABLE", "no")
        app = open_ledger(**location)
        try:
            assert app.record([usage_event("key-a", BASE_TIME)]) == 1
        finally:
            app.close()

    def test_times_keep_offset_and_microseconds(self, ledger: LedgerApp) -> None:
        moment = (BASE_TIME + timedelta(microseconds=123457)).astimezone()
        event = usage_event("key-a", moment)
        ledger.record([event])
        [(_, stored)] = _all(ledger)
        assert stored.occurred_at == moment
        assert encode_envelope(stored) == encode_envelope(event)


class TestSQLiteLedger(LedgerContract):
    @pytest.fixture
    def location(self, tmp_path: Path) -> dict[str, str]:
        return {"sqlite_path": str(tmp_path / "ledger.db")}


@pytest.mark.services
class TestPostgresLedger(LedgerContract):
    @pytest.fixture
    def location(self, postgres_database: str) -> dict[str, str]:
        return {"postgres_url": postgres_database}

    def test_schema_isolates_two_ledgers(self, postgres_database: str) -> None:
        first = open_ledger(postgres_url=postgres_database, postgres_schema="tenant_one")
        second = open_ledger(postgres_url=postgres_database, postgres_schema="tenant_two")
        try:
            first.record(mixed_log(5))
            assert second.max_position() == 0 and len(_all(first)) == 5
        finally:
            first.close()
            second.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    url = f"postgresql://llmux:s3cret-pw@127.0.0.1:{_free_port()}/ledger"
    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(postgres_url=url)
    message = str(caught.value)
    assert "PostgreSQL at 127.0.0.1" in message and "/ledger" in message
    assert "s3cret-pw" not in message


def test_unopenable_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailable, match="SQLite at"):
        open_ledger(sqlite_path=str(tmp_path / "missing-dir" / "ledger.db"))


@pytest.mark.parametrize("arguments", [{}, {"sqlite_path": "a.db", "postgres_url": "postgresql://x/y"}])
def test_exactly_one_store_must_be_named(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        open_ledger(**arguments)


def test_entry_id_is_the_envelope_id(tmp_path: Path) -> None:
    app = open_ledger(sqlite_path=str(tmp_path / "ledger.db"))
    try:
        event = usage_event("key-a", BASE_TIME)
        app.record([event])
        entry: Any = app.repository.get(event.id)
        assert entry.id == event.id and entry.event_type == "usage.recorded"
        assert app.recorder.select_events(uuid.uuid4()) == []
    finally:
        app.close()

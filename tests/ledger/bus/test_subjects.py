"""NATS subject filter semantics as ``LocalBus`` applies them (JetStream applies the same rules)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.bus.base import BusMessage
from ledger.bus.sqlite_log import SqliteMessageLog
from ledger.bus.subjects import SubjectFilter


@pytest.mark.parametrize(
    ("text", "subject", "expected"),
    [
        ("llmux.>", "llmux.usage.recorded", True),
        ("llmux.>", "llmux.usage", True),
        ("llmux.>", "llmux", False),
        ("llmux.>", "other.usage", False),
        ("llmux.*", "llmux.usage", True),
        ("llmux.*", "llmux.usage.recorded", False),
        ("llmux.*.recorded", "llmux.usage.recorded", True),
        ("llmux.*.recorded", "llmux.usage.completed", False),
        ("llmux.admin.>", "llmux.admin.key.created", True),
        ("llmux.admin.>", "llmux.administrator.x", False),
        ("llmux.usage.recorded", "llmux.usage.recorded", True),
        ("llmux.usage.recorded", "llmux.usage.recorded.v2", False),
        ("*.*", "a.b", True),
        (">", "anything.at.all", True),
    ],
)
def test_matches(text: str, subject: str, expected: bool) -> None:
    assert SubjectFilter(text).matches(subject) is expected


@pytest.mark.parametrize("text", ["", "llmux..x", "llmux.>.x", ".llmux", "llmux."])
def test_invalid_filters_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        SubjectFilter(text)


# Subjects around the edges of the filters below (NATS would refuse some; the log stores anything).
SUBJECTS = [
    "llmux", "llmux.", "llmux.usage", "llmux.usage.recorded", "llmux.usage.recorded.v2",
    "llmux.admin", "llmux.admin.", "llmux.admin.key.created", "llmux.administrator.x", "llmux/x",
    "llmuxx.a", "other.usage", "a.b", "é.x", "llmux.é", "", ".", "llmux..x",
]
FILTERS = [
    "llmux.>", "llmux.admin.>", "llmux.usage.recorded", "llmux", "llmux.*", "llmux.*.recorded",
    "*.*", ">", "é.>",
]


@pytest.mark.parametrize("text", FILTERS)
def test_the_literal_is_the_same_test(text: str) -> None:
    compiled = SubjectFilter(text)
    assert (compiled.literal is None) == ("*" in text.split("."))
    if compiled.literal is not None:
        for subject in SUBJECTS:
            literal_match = (subject.startswith(compiled.literal) if compiled.is_prefix
                             else subject == compiled.literal)
            assert literal_match is compiled.matches(subject), subject


@pytest.fixture
def log() -> Iterator[SqliteMessageLog]:
    stream = SqliteMessageLog(None)
    stream.append([BusMessage(subject=subject, data=b"{}", msg_id=f"m{index}")
                   for index, subject in enumerate(SUBJECTS)])
    yield stream
    stream.close()


@pytest.mark.parametrize("text", FILTERS)
def test_the_message_log_selects_what_the_filter_matches(
    log: SqliteMessageLog, text: str
) -> None:
    expected = [subject for subject in SUBJECTS if SubjectFilter(text).matches(subject)]
    assert [row[1] for row in log.read_after(text, 0, 100)] == expected
    log.open_consumer("reader", text)
    assert [row[1] for row in log.unacked("reader", text, 100, ())] == expected
    log.ack("reader", text, [row[0] for row in log.unacked("reader", text, 100, ())][:1])
    assert [row[1] for row in log.unacked("reader", text, 100, ())] == expected[1:]


@pytest.mark.parametrize("retain", [(), ("llmux.admin.>",), ("llmux.*", "a.b", ">")])
def test_pruning_keeps_what_the_retained_filters_match(retain: tuple[str, ...]) -> None:
    stream = SqliteMessageLog(None, retain)
    try:
        stream.append([BusMessage(subject=subject, data=b"{}", msg_id=f"m{index}")
                       for index, subject in enumerate(SUBJECTS)])
        stream.open_consumer("all", ">")
        stream.ack("all", ">", [row[0] for row in stream.read_after(">", 0, 100)])
        kept = [subject for subject in SUBJECTS
                if any(SubjectFilter(text).matches(subject) for text in retain)]
        assert stream.prune() == len(SUBJECTS) - len(kept)
        assert [row[1] for row in stream.read_after(">", 0, 100)] == kept
    finally:
        stream.close()

"""NATS subject filter semantics as ``LocalBus`` applies them (JetStream applies the same rules)."""

from __future__ import annotations

import pytest

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

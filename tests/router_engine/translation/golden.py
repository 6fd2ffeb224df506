"""Golden files: recorded wire fixtures that pin a translation byte for byte (streams) or value
for value (JSON bodies).

Run with ``UPDATE_GOLDEN=1`` to rewrite the expected files after a deliberate change, then read
the diff: a golden file is a reviewed statement of what the wire looks like.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"


def _should_update() -> bool:
    return os.environ.get("UPDATE_GOLDEN", "") == "1"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_golden_json(path: Path, actual: Any) -> None:
    """``actual`` equals the JSON in ``path`` (compared as values, so key order is free)."""
    if _should_update():
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; create it with UPDATE_GOLDEN=1"
    assert actual == load_json(path)


def assert_golden_bytes(path: Path, actual: bytes) -> None:
    """``actual`` equals the bytes of ``path`` exactly."""
    if _should_update():
        path.write_bytes(actual)
    assert path.exists(), f"missing golden file {path}; create it with UPDATE_GOLDEN=1"
    assert actual == path.read_bytes()


def split_every(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes, as a network may deliver it."""
    return [data[start:start + size] for start in range(0, len(data), size)]


def sse_events(stream: bytes) -> list[tuple[str | None, Any]]:
    """``(event name, decoded data)`` for each event of an SSE body (``[DONE]`` kept as text)."""
    events = []
    for block in stream.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
        text = "\n".join(data)
        events.append((name, text if text == "[DONE]" else json.loads(text)))
    return events

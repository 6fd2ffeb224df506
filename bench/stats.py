"""What one load run measured, in one JSON-friendly record shared by the wrk and Python drivers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LoadResult", "percentile", "summarize_ms"]


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarize_ms(values_s: Sequence[float]) -> dict[str, float]:
    """Mean, p50, p90, p99 and max of durations given in seconds, in milliseconds."""
    ordered = sorted(values_s)
    if not ordered:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "mean": sum(ordered) / len(ordered) * 1000,
        "p50": percentile(ordered, 50) * 1000,
        "p90": percentile(ordered, 90) * 1000,
        "p99": percentile(ordered, 99) * 1000,
        "max": ordered[-1] * 1000,
    }


@dataclass
class LoadResult:
    """One measured run against one URL. Latencies in milliseconds."""

    tool: str
    """``wrk`` or ``python``."""
    mode: str
    """``closed`` (N in flight), ``open`` (fixed rate) or ``stream`` (closed loop of streams)."""
    concurrency: int
    duration_s: float
    requests: int
    errors: int
    rps: float
    mean_ms: float
    p50_ms: float
    p99_ms: float
    rate: float | None = None
    """Intended rate of an open-loop run (req/s)."""
    dropped: int = 0
    """Open loop: sends skipped because the in-flight cap was reached."""
    error_samples: list[str] = field(default_factory=list)
    stream: dict[str, Any] | None = None
    """Streaming only: ttft_ms {mean,p50,p90,p99,max}, gap_ms {...}, peak_open, chunks_mean."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        return cls(**data)

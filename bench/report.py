"""Tables on stdout and one JSON file per scenario under ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "machine_info", "ratio", "table", "write_json"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
Cell = str | int | float | None


def _cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3f}"
    return str(value)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]],
          notes: Sequence[str] = ()) -> str:
    """A plain-text table (also valid Markdown), printed and returned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.rjust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [f"\n### {title}", "", line(headers),
           "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"]
    out += [line(r) for r in cells]
    out += [f"- {n}" for n in notes]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` or None when either side is missing or zero."""
    if not numerator or not denominator:
        return None
    return numerator / denominator


def _version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0] if first else None


def machine_info(gateway_core: int | None, load_core: int | None) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "wrk": _version(["wrk", "-v"]),
        "pinning": {"gateway_core": gateway_core, "upstream_and_driver_core": load_core},
    }


def write_json(name: str, payload: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    payload = {"scenario": name, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **payload}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nwrote {path}", flush=True)
    return path

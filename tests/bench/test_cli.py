"""End to end through ``python -m bench``: processes started, load driven, JSON written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.llmux_env import with_overrides

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_direct_latency_scenario_writes_json(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--scenario", "b", "--target", "direct", "--duration", "1",
         "--warmup", "0", "--no-pin", "--results-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(b) latency added at concurrency 1" in proc.stdout
    result = json.loads((tmp_path / "b.json").read_text())
    direct = result["results"]["direct"]
    assert direct["errors"] == 0 and direct["requests"] > 0
    assert direct["added_p99_ms"] == 0
    assert result["machine"]["pinning"] == {"gateway_core": None, "upstream_and_driver_core": None}


def test_unknown_scenario_is_refused() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "--scenario", "z"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "unknown scenario" in proc.stderr


def test_settings_override_the_generated_gateway_config() -> None:
    tree = {"deployment": {"mode": "standalone"}, "providers": []}
    with_overrides(tree, ["ledger.batch_wait=10ms", "bus.max_backlog=null", "deployment.mode=x"])
    assert tree == {"deployment": {"mode": "x"}, "providers": [],
                    "ledger": {"batch_wait": "10ms"}, "bus": {"max_backlog": None}}
    with pytest.raises(ValueError, match=r"dotted\.key=value"):
        with_overrides(tree, ["ledger.batch_wait"])

"""The benchmark moves the shared services off the gateway's core for a run, then back."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from bench.service_affinity import services_on_core


def test_services_move_to_the_load_core_and_back(tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        raise AssertionError("this test needs a process allowed on two cores")
    sleeper = tmp_path / "llmux-svc-probe"  # NOTE: a name no other process on the machine has
    shutil.copy(shutil.which("sleep") or "/bin/sleep", sleeper)
    child = subprocess.Popen([str(sleeper), "30"])
    comm = Path(f"/proc/{child.pid}/comm")
    for _ in range(500):  # NOTE: the new name shows only once the child has exec'd (bounded)
        if comm.read_text().strip() == "llmux-svc-probe":
            break
        time.sleep(0.01)
    try:
        before = os.sched_getaffinity(child.pid)
        core = max(before)
        with services_on_core(core, names=("llmux-svc-probe",)) as moved:
            assert moved == 1
            assert os.sched_getaffinity(child.pid) == {core}
        assert os.sched_getaffinity(child.pid) == before
    finally:
        child.kill()
        child.wait()

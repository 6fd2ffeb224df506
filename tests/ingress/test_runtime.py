"""``build_runtime``: what each mode's runtime is made of."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import pytest

from ingress import processes
from ingress.processes import Job, standalone_jobs
from ingress.runtime import build_runtime
from ledger import Bus, LocalBus
from schemas.config import LLMuxConfig
from schemas.config_loader import parse_config


async def test_standalone_runtime_bounds_its_backlog_and_closes_its_files(tmp_path: Path) -> None:
    config = parse_config(f"deployment: {{mode: standalone, data_dir: '{tmp_path}'}}\n"
                          "bus: {max_backlog: 1234}\n", {})
    runtime = build_runtime(config)
    await runtime.start()
    try:
        assert isinstance(runtime.bus, LocalBus)
        assert runtime.bus.max_backlog == 1234
    finally:
        await runtime.aclose()
    assert not _open_files_under(tmp_path)  # bus, ledger, projections: all closed


async def test_a_background_job_that_fails_is_logged_at_once_and_the_rest_still_closes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def with_a_failing_job(config: LLMuxConfig, bus: Bus) -> list[Job]:
        async def failing(stop: asyncio.Event) -> None:
            raise RuntimeError("the disk is full")
        return [*standalone_jobs(config, bus), failing]

    monkeypatch.setattr(processes, "standalone_jobs", with_a_failing_job)
    runtime = build_runtime(parse_config(
        f"deployment: {{mode: standalone, data_dir: '{tmp_path}'}}\n", {}))
    await runtime.start()
    try:
        for _ in range(100):
            if any(r.name == "llmux.runtime" for r in caplog.records):
                break
            await asyncio.sleep(0.01)
        (record,) = [r for r in caplog.records if r.name == "llmux.runtime"]
        assert record.levelno == logging.ERROR
        assert record.getMessage() == "a background job stopped: RuntimeError"
        assert record.exc_info is not None and "the disk is full" in str(record.exc_info[1])
        assert await runtime.readiness_checks()["background"]() is False
    finally:
        await runtime.aclose()  # NOTE: it raised the job's error before, leaving files open
    assert not _open_files_under(tmp_path)


def _open_files_under(folder: Path) -> list[str]:
    paths = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            paths.append(os.readlink(fd))
    return [p for p in paths if p.startswith(str(folder))]

"""Child processes of a benchmark: pinned with taskset, logged to a file, always cleaned up.

Every child starts in its own session (process group), so stopping it kills whatever it spawned
too (uvicorn workers, LiteLLM's helpers), and a Ctrl-C on the terminal reaches only the
orchestrator, which then stops its children in ``ProcessSet.__exit__``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

__all__ = ["BenchProcess", "ProcessSet", "StartupError", "core_busy_seconds", "rss_kib",
           "tree_cpu_seconds", "tree_rss_kib"]

_TICK = os.sysconf("SC_CLK_TCK")


class StartupError(RuntimeError):
    """A process under test did not become ready; the message carries the tail of its log."""


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident set size of one process from /proc, 0 if it is gone.

    ``field`` may name a part of it: ``RssAnon`` (heap, stacks: what a leak grows) or ``RssFile``
    (mapped files such as code and libraries, first touched when a rare path first runs).
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
            # NOTE: the command name may hold spaces; fields after the last ')' are fixed.
            fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def _tree(pid: int) -> list[int]:
    """A process and its descendants (bounded depth)."""
    found, frontier = [], [pid]
    for _ in range(8):
        if not frontier:
            break
        found += frontier
        frontier = [kid for p in frontier for kid in _children(p)]
    return found


def tree_rss_kib(pid: int, field: str = "VmRSS") -> int:
    """RSS (or the part ``field`` names) of a process plus all its descendants."""
    return sum(rss_kib(p, field) for p in _tree(pid))


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def core_busy_seconds(core: int) -> float:
    """Seconds core ``core`` was not idle since boot (incl. steal: time the VM did not get)."""
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith(f"cpu{core} "):
                user, nice, system, _idle, _iowait, irq, softirq, steal = (
                    int(v) for v in line.split()[1:9])
                return (user + nice + system + irq + softirq + steal) / _TICK
    return 0.0


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process plus its living descendants."""
    return sum(_cpu_seconds(p) for p in _tree(pid))


class BenchProcess:
    """One pinned child process."""

    def __init__(self, name: str, argv: list[str], *, core: int | None, log_dir: Path,
                 env: Mapping[str, str | None] | None = None, cwd: Path | None = None) -> None:
        """``env`` overrides the inherited environment; a ``None`` value removes the variable."""
        self.name = name
        self.argv = (["taskset", "-c", str(core)] if core is not None else []) + argv
        self.log_path = log_dir / f"{name}.log"
        merged: dict[str, str | None] = {**os.environ, **(env or {})}
        self.env = {k: v for k, v in merged.items() if v is not None}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self) -> BenchProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env, cwd=self.cwd, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def wait_http(self, url: str, timeout_s: float,
                  ready: Callable[[int], bool] = lambda status: status == 200) -> None:
        """Poll ``url`` until ``ready(status)``; raise ``StartupError`` on exit or timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.proc.returncode if self.proc else None
                raise StartupError(f"{self.name} exited ({code}); log {self.log_path}:\n"
                                   f"{self.log_tail()}")
            status = _status(url)
            if status is not None and ready(status):
                return
            time.sleep(0.2)
        raise StartupError(f"{self.name}: {url} not ready after {timeout_s:g}s; log "
                           f"{self.log_path}:\n{self.log_tail()}")

    def rss_kib(self, field: str = "VmRSS") -> int:
        return tree_rss_kib(self.pid, field) if self.alive() else 0

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid) if self.alive() else 0.0

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


class ProcessSet:
    """Owns started processes; stops all of them, newest first, when the block exits."""

    def __init__(self) -> None:
        self._procs: list[BenchProcess] = []

    def start(self, proc: BenchProcess) -> BenchProcess:
        self._procs.append(proc)
        return proc.start()

    def stop(self, proc: BenchProcess) -> None:
        proc.stop()
        if proc in self._procs:
            self._procs.remove(proc)

    def __enter__(self) -> ProcessSet:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        while self._procs:
            self._procs.pop().stop()

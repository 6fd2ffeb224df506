"""``ingress.heap``: big buffers stay out of malloc's arenas; freed pages go back to the kernel."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import subprocess
import sys
from pathlib import Path

import pytest

from ingress import heap, processes
from ingress.heap import heap_trim_job, malloc_trim
from schemas.config_loader import parse_config

REPO_ROOT = Path(__file__).resolve().parents[2]

# NOTE: in a child process: the setting is the whole process's, and glibc's dynamic threshold
# depends on what the process freed before.
_PROBE = """
import ctypes, ctypes.util, sys
from ingress.heap import fix_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
libc.free(libc.malloc(4 << 20))  # a 4 MiB batch buffer, freed
before = libc.mallinfo2().hblks
block = libc.malloc(1 << 20)  # the next, smaller batch
print(libc.mallinfo2().hblks - before)
"""


def _mapped_blocks_after_a_large_free(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], cwd=REPO_ROOT, check=True,
                         capture_output=True, text=True, env={"PYTHONPATH": str(REPO_ROOT)})
    return int(out.stdout)


def test_with_the_threshold_fixed_large_buffers_keep_coming_from_mmap() -> None:
    assert _mapped_blocks_after_a_large_free("fixed") == 1  # given back whole when freed


def test_glibc_alone_moves_them_onto_the_heap_after_the_first_is_freed() -> None:
    """What the fix is for: the freed 4 MiB block raised the threshold above 1 MiB."""
    assert _mapped_blocks_after_a_large_free("default") == 0


TRIM_BLOCK = 4096 + 512  # NOTE: above pymalloc's 512 bytes, below the mmap threshold: the heap
TRIM_BLOCKS = 16_384  # ~72 MB


def _rss_anon_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def _fragment_the_heap() -> list[int]:
    """Allocate and touch many blocks, then free all but every 64th: free memory that is not at
    the top of the heap, which ``free`` alone never returns. Returns the blocks kept."""
    libc = _libc()
    blocks = [libc.malloc(TRIM_BLOCK) for _ in range(TRIM_BLOCKS)]
    for block in blocks:
        ctypes.memset(block, 1, TRIM_BLOCK)
    kept = blocks[::64]
    for index, block in enumerate(blocks):
        if index % 64:
            libc.free(block)
    return kept


async def test_the_job_returns_the_free_pages_of_a_fragmented_heap() -> None:
    trims: list[object] = []
    trim = malloc_trim()
    assert trim is not None  # glibc, as on every machine this gateway is built and tested on

    def counted_trim() -> object:
        trims.append(trim())
        return trims[-1]

    kept = _fragment_the_heap()
    before = _rss_anon_kib()
    job = heap_trim_job(0.01, counted_trim)
    assert job is not None
    stop = asyncio.Event()
    running = asyncio.ensure_future(job(stop))
    while not trims:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(running, 5)
    assert before - _rss_anon_kib() > 32 * 1024  # most of the ~70 MB freed is no longer resident
    assert trims[0] == 1  # malloc_trim: 1 when it released memory
    libc = _libc()
    for block in kept:
        libc.free(block)


async def test_the_job_stops_when_told_and_an_interval_of_zero_makes_none() -> None:
    trims: list[int] = []
    job = heap_trim_job(3600, lambda: trims.append(1))
    assert job is not None
    stop = asyncio.Event()
    running = asyncio.ensure_future(job(stop))
    await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(running, 5)
    assert trims == []  # stopped before its first interval was up
    assert heap_trim_job(0, lambda: None) is None


async def test_the_projector_process_trims_its_heap_until_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``llmux projector`` (and ``llmux ledger``, through the same wrapper) trims as the gateway."""
    trims: list[int] = []
    monkeypatch.setattr(heap, "malloc_trim", lambda: lambda: trims.append(1))
    config = parse_config(f"deployment: {{mode: standalone, data_dir: '{tmp_path}'}}\n"
                          "server: {heap_trim_interval: 20ms}\n", {})
    stop = asyncio.Event()
    running = asyncio.ensure_future(processes.run_projector(config, stop))
    for _ in range(500):
        if len(trims) >= 2 or running.done():
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert len(trims) >= 2
    trimmed = len(trims)
    await asyncio.sleep(0.1)
    assert len(trims) == trimmed  # no trimming left behind once the process has stopped

"""``CatchUpWorker``: work that keeps up runs only when the core is idle; work behind competes.

The scheduling policy is read by the task itself on the thread that ran it, so these tests see
what the kernel was told, not what the worker meant to do.
"""

from __future__ import annotations

import os
import threading

from ledger.background import CatchUpWorker


def _lane() -> tuple[str, int]:
    return threading.current_thread().name, os.sched_getscheduler(0)


async def test_work_that_keeps_up_runs_under_sched_idle_and_work_behind_does_not() -> None:
    worker = CatchUpWorker("catch-up", polite=True)
    try:
        polite_name, polite_policy = await worker.run(_lane)
        behind_name, behind_policy = await worker.run(_lane, behind=True)
        again_name, again_policy = await worker.run(_lane)
    finally:
        worker.shutdown()
    assert polite_policy == os.SCHED_IDLE and polite_name.startswith("catch-up-polite")
    assert behind_policy == os.SCHED_OTHER and not behind_name.startswith("catch-up-polite")
    # The polite thread is reused, and the ordinary one never inherited its policy.
    assert (again_name, again_policy) == (polite_name, os.SCHED_IDLE)


async def test_a_worker_that_is_not_polite_runs_everything_as_an_equal() -> None:
    worker = CatchUpWorker("own-process", polite=False)
    try:
        lanes = {await worker.run(_lane), await worker.run(_lane, behind=True)}
    finally:
        worker.shutdown()
    assert len(lanes) == 1 and next(iter(lanes))[1] == os.SCHED_OTHER


async def test_the_result_and_the_exception_of_the_task_come_back() -> None:
    worker = CatchUpWorker("results", polite=True)

    def fail() -> None:
        raise LookupError("from the worker thread")

    try:
        assert await worker.run(pow, 2, 10) == 1024
        try:
            await worker.run(fail, behind=True)
        except LookupError as exc:
            assert str(exc) == "from the worker thread"
        else:
            raise AssertionError("the task's exception was lost")
    finally:
        worker.shutdown()

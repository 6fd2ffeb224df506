"""Script calls made in the same event-loop iteration travel to Redis together, as one call.

# PERF: redis-py spends 60-100 µs of CPU on every command (pool checkout, retry wrapper, argument
# encoding, reply parsing), more than the rest of admission together: a governed request cost
# 467 µs of gateway CPU against 231 µs for one without limits (py-spy, distributed mode, 64 in
# flight; docs/performance.md). Under load dozens of requests admit within one loop iteration;
# one ``EVALSHA`` of a wrapper script runs all of their calls, in submission order, and returns
# one reply per call, so the per-command cost is paid once per iteration instead of per request.

Atomicity is unchanged: Redis runs the whole batch as one script, so each call still sees every
earlier call's writes, exactly as if they had been sent one after another. A failed batch fails
each of its calls with the same error.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from typing import NamedTuple

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from ingress.admission.redis_wire import pack_command, send_packed

__all__ = ["ScriptBatcher", "batched_lua"]

_MAX_CALLS = 256
"""Calls per batch; more in one iteration start another batch (keeps each script short)."""

_BATCH_LOOP = """
local out, k, a = {}, 0, 1
for c = 1, tonumber(ARGV[1]) do
  local nk, na = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 2
  local keys, args = {}, {}
  for j = 1, nk do keys[j] = KEYS[k + j] end
  for j = 1, na do args[j] = ARGV[a + j] end
  k, a = k + nk, a + na
  out[c] = call(keys, args)
end
return out
"""


def batched_lua(lua: str) -> str:
    """``lua`` (a script reading ``KEYS`` and ``ARGV``) run once per call of a batch.

    The batch's ARGV is ``n`` and then, per call, its key count, its argument count and its
    arguments; its KEYS are every call's keys in order. The script body becomes a function whose
    parameters shadow the globals, so it runs unchanged.
    """
    return f"local function call(KEYS, ARGV)\n{lua}\nend\n{_BATCH_LOOP}"


class _Call(NamedTuple):
    keys: Sequence[str]
    args: Sequence[str]
    future: asyncio.Future[object]
    on_orphan: Callable[[object], None] | None


class ScriptBatcher:
    """Runs the calls of one Lua script, batched per event-loop iteration.

    Args:
        redis: the client (and connection pool) the batches are sent with.
        lua: the script, as it would be run for a single call.
        max_calls: most calls in one batch.
    """

    def __init__(self, redis: Redis, lua: str, *, max_calls: int = _MAX_CALLS) -> None:
        self.source = batched_lua(lua)
        """The wrapper script's source (``SCRIPT LOAD`` it at startup)."""
        self._sha = hashlib.sha1(self.source.encode()).hexdigest()
        self._redis = redis
        self._max_calls = max_calls
        self._queue: list[_Call] = []
        self._flush_scheduled = False
        self._running: set[asyncio.Task[None]] = set()
        self.batches_sent = 0
        """Batches sent so far (one ``EVALSHA`` each)."""

    def submit(self, keys: Sequence[str], args: Sequence[str],
               on_orphan: Callable[[object], None] | None = None) -> asyncio.Future[object]:
        """Queue one call; the future gets its reply, or the batch's ``RedisError``.

        ``on_orphan`` receives the reply of a call whose future was cancelled meanwhile: the
        script ran anyway, and its caller may have to undo what it did.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self._queue.append(_Call(keys, args, future, on_orphan))
        if len(self._queue) >= self._max_calls:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    async def aclose(self) -> None:
        """Wait for the batches on their way (their callers are waiting for them too)."""
        while self._queue or self._running:
            self._flush()
            await asyncio.gather(*self._running, return_exceptions=True)

    def _flush(self) -> None:
        self._flush_scheduled = False
        calls, self._queue = self._queue, []
        if not calls:
            return
        task = asyncio.ensure_future(self._send(calls))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _send(self, calls: list[_Call]) -> None:
        keys: list[str] = []
        args: list[str] = [str(len(calls))]
        for call in calls:
            keys += call.keys
            args += (str(len(call.keys)), str(len(call.args)), *call.args)
        self.batches_sent += 1
        try:
            replies = await self._evalsha(keys, args)
        except Exception as exc:
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        except BaseException:  # NOTE: cancelled (shutdown): so are the calls waiting for it
            for call in calls:
                call.future.cancel()
            raise
        assert isinstance(replies, list)
        for call, reply in zip(calls, replies, strict=True):
            if not call.future.cancelled():
                call.future.set_result(reply)
            elif call.on_orphan is not None:
                call.on_orphan(reply)

    async def _evalsha(self, keys: list[str], args: list[str]) -> object:
        command = pack_command(["EVALSHA", self._sha, str(len(keys)), *keys, *args])
        try:
            return await send_packed(self._redis.connection_pool, command)
        except NoScriptError:  # NOTE: Redis restarted or flushed its scripts: load, then again
            await self._redis.script_load(self.source)
            return await send_packed(self._redis.connection_pool, command)

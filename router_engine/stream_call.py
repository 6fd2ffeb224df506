"""One streaming call in flight: upstream bytes in, client SSE frames out, usage at the end.

The router returns a ``StreamCall`` once the upstream sent its first frame. Iterating it yields
OpenAI SSE frames (``data: ...\\n\\n``, the final ``data: [DONE]\\n\\n`` included); a mid-stream
upstream failure raises the mapped ``UpstreamError`` from the iterator. ``usage`` is valid at any
point after iteration stopped, however it stopped: the provider's numbers, or a local count of the
prompt and of the text generated so far, flagged ``is_estimated``. ``aclose`` closes the upstream
response, which cancels the upstream call if it is still running, and reports how the call ended to
deployment health: complete (a success), broken or truncated by the upstream (a failure), or
abandoned by the client before the end (neutral).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from router_engine.deployment import Deployment
from router_engine.health import Lease
from router_engine.providers.base import StreamTranslator
from router_engine.tokens import count_request_prompt_tokens, count_text_tokens
from router_engine.upstream.base import UpstreamResponse
from schemas.errors import LLMuxError, UpstreamProtocolError
from schemas.token_usage import TokenUsage

__all__ = ["StreamCall", "estimate_usage", "wants_usage_chunk"]


def wants_usage_chunk(body: dict[str, Any]) -> bool:
    """Whether the client itself asked for ``stream_options.include_usage``."""
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def estimate_usage(body: dict[str, Any], model: str, completion_text: str) -> TokenUsage:
    """Usage counted locally, for a call whose provider reported none."""
    return TokenUsage(
        prompt_tokens=count_request_prompt_tokens(body, model),
        completion_tokens=count_text_tokens(completion_text, model),
        is_estimated=True,
    )


class StreamCall:
    """An upstream stream being relayed to one client. Iterate it once."""

    __slots__ = (
        "_body",
        "_chunks",
        "_first_frame_at",
        "_held",
        "_is_broken",
        "_lease",
        "_response",
        "_started",
        "_translator",
        "attempts",
        "deployment",
        "fallbacks",
        "ttft_ms",
    )

    def __init__(
        self,
        deployment: Deployment,
        response: UpstreamResponse,
        translator: StreamTranslator,
        body: dict[str, Any],
        started: float,
        lease: Lease | None = None,
    ) -> None:
        self.deployment = deployment
        self.attempts = 1
        self.fallbacks: list[str] = []
        self.ttft_ms: float | None = None
        """Milliseconds from the call's start (retries included) to the first upstream frame."""
        self._response = response
        self._chunks = response.iter_chunks()
        self._translator = translator
        self._body = body
        self._started = started
        self._held: list[bytes] = []
        self._lease = lease
        self._first_frame_at: float | None = None
        self._is_broken = False

    @property
    def is_complete(self) -> bool:
        """True once the upstream signalled a normal end of stream."""
        return self._translator.saw_done

    @property
    def usage(self) -> TokenUsage:
        """The provider's usage, or a local (estimated) count of what was streamed so far."""
        reported = self._translator.usage
        if reported is not None:
            return reported
        return estimate_usage(
            self._body, self.deployment.upstream_model, self._translator.text()
        )

    async def prefetch(self) -> None:
        """Read until the first frame, so a stream that fails before it can still be retried.

        Raises:
            UpstreamError: the upstream failed or ended before sending any frame.
        """
        async for chunk in self._chunks:
            self._held = self._translator.feed(chunk)
            if self._held:
                self._mark_first_frame()
                return
        self._held = self._translator.finish()
        if not self._held:
            raise UpstreamProtocolError(
                f"Upstream '{self.deployment.provider_name}' ended the stream without any data."
            )
        self._mark_first_frame()

    def _mark_first_frame(self) -> None:
        self._first_frame_at = time.perf_counter()
        self.ttft_ms = round((self._first_frame_at - self._started) * 1000.0, 3)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        held, self._held = self._held, []
        for frame in held:
            yield frame
        translator = self._translator
        try:
            async for chunk in self._chunks:
                for frame in translator.feed(chunk):
                    yield frame
            for frame in translator.finish():
                yield frame
        except LLMuxError:
            self._is_broken = True
            raise
        if not translator.saw_done:
            self._is_broken = True  # the upstream ended without its end-of-stream marker

    async def aclose(self) -> None:
        """Close the upstream response (cancels the upstream call if it is still streaming), then
        report the call's end to deployment health."""
        try:
            await self._response.aclose()
        finally:
            await self._finish_lease()

    async def _finish_lease(self) -> None:
        lease = self._lease
        if lease is None:
            return
        if self.is_complete:
            usage = self.usage
            await lease.finish(
                ok=True, status=lease.status, tokens=usage.prompt_tokens + usage.completion_tokens,
                ttft_ms=None if self._first_frame_at is None
                else lease.ms_since_start(self._first_frame_at),
            )
        elif self._is_broken:
            await lease.finish(ok=False, status=None)
        else:
            lease.abandon()

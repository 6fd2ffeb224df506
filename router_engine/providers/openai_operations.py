"""OpenAI's embeddings and legacy completions wire formats: parsing, usage, and local counts.

Shared by every OpenAI-format upstream (``openai``, the presets, ``mock``, Azure). Bodies pass
through unchanged, as for chat; only usage is read. When an upstream reports no usage (some
OpenAI-compatible servers don't), the prompt and the generated text are counted locally and the
usage is flagged ``is_estimated``, so these operations always carry usage.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

import orjson

from router_engine.providers.base import ParsedResponse
from router_engine.providers.openai_stream import OpenAIStreamTranslator, usage_from_openai
from router_engine.tokens import count_text_tokens
from schemas.errors import LLMuxError, UpstreamProtocolError
from schemas.token_usage import TokenUsage

__all__ = [
    "CompletionsStreamTranslator",
    "completion_texts",
    "encode_embedding",
    "input_tokens",
    "parse_completions",
    "parse_embeddings",
]


def input_tokens(value: Any, model: str) -> int:
    """Tokens of an embeddings ``input`` or a completions ``prompt``: a string, a list of
    strings, a list of token ids, or a list of such lists."""
    if isinstance(value, str):
        return count_text_tokens(value, model)
    if not isinstance(value, list):
        return 0
    if all(isinstance(item, int) for item in value):
        return len(value)
    return sum(input_tokens(item, model) for item in value)


def encode_embedding(values: list[float], encoding_format: Any) -> list[float] | str:
    """``values`` as OpenAI sends them: floats, or base64 of little-endian float32 when the
    client asked for ``encoding_format: base64``."""
    if encoding_format != "base64":
        return values
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def completion_texts(doc: Any) -> list[str]:
    """The ``text`` of each choice of a ``text_completion`` (or of one streamed chunk)."""
    choices = doc.get("choices") if isinstance(doc, dict) else None
    return [c["text"] for c in choices if isinstance(c, dict) and isinstance(c.get("text"), str)] \
        if isinstance(choices, list) else []


def _json_object(body: bytes, provider: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(f"Upstream '{provider}' sent a response that is not JSON.") \
            from exc
    if not isinstance(doc, dict):
        raise UpstreamProtocolError(f"Upstream '{provider}' sent an unexpected body.")
    return doc


def parse_embeddings(body: bytes, request: dict[str, Any], model: str,
                     provider: str) -> ParsedResponse:
    """An OpenAI embeddings ``list``, passed through; usage from it or counted from the input."""
    doc = _json_object(body, provider)
    if not isinstance(doc.get("data"), list):
        raise UpstreamProtocolError(f"Upstream '{provider}' sent embeddings without 'data'.")
    usage = usage_from_openai(doc.get("usage"))
    if usage is None:
        usage = TokenUsage(prompt_tokens=input_tokens(request.get("input"), model),
                           is_estimated=True)
    return ParsedResponse(body, usage)


def parse_completions(body: bytes, request: dict[str, Any], model: str,
                      provider: str) -> ParsedResponse:
    """A ``text_completion``, passed through; usage from it or counted locally."""
    doc = _json_object(body, provider)
    usage = usage_from_openai(doc.get("usage"))
    text = "".join(completion_texts(doc))
    if usage is None:
        usage = TokenUsage(prompt_tokens=input_tokens(request.get("prompt"), model),
                           completion_tokens=count_text_tokens(text, model), is_estimated=True)
    return ParsedResponse(body, usage, text)


class CompletionsStreamTranslator(OpenAIStreamTranslator):
    """OpenAI's pass-through stream translator for ``text_completion`` chunks.

    Frames go out unchanged; the generated text is read from ``choices[].text``, and ``usage``
    falls back to a local count of the prompt and the text streamed so far.
    """

    __slots__ = ("_model", "_prompt_tokens", "_reported")

    def __init__(self, *, forward_usage_chunk: bool, on_error: Callable[[Any], LLMuxError],
                 request: dict[str, Any], model: str) -> None:
        self._reported: TokenUsage | None = None
        super().__init__(forward_usage_chunk=forward_usage_chunk, on_error=on_error)
        self._model = model
        self._prompt_tokens = input_tokens(request.get("prompt"), model)

    @property
    def usage(self) -> TokenUsage | None:
        if self._reported is not None:
            return self._reported
        return TokenUsage(prompt_tokens=self._prompt_tokens,
                          completion_tokens=count_text_tokens(self.text(), self._model),
                          is_estimated=True)

    @usage.setter
    def usage(self, value: TokenUsage | None) -> None:
        self._reported = value

    def text(self) -> str:
        texts: list[str] = []
        for payload in self._payloads:
            try:
                texts.extend(completion_texts(orjson.loads(payload)))
            except orjson.JSONDecodeError:
                continue
        return "".join(texts)

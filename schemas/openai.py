"""OpenAI wire types the gateway validates at the edge.

These records check the fields the gateway itself relies on (their presence and types); the
request body is forwarded as the client sent it, so fields this file does not name still reach
the upstream untouched.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionRequest",
    "EmbeddingRequest",
    "ResponsesRequest",
    "StreamOptions",
]

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(msgspec.Struct, frozen=True, kw_only=True):
    include_usage: bool | None = None


class ChatCompletionRequest(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    messages: list[ChatMessage]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model: must be a non-empty string")
        if not self.messages:
            raise ValueError("messages: must contain at least one message")

    @property
    def is_streaming(self) -> bool:
        return bool(self.stream)

    @property
    def output_token_cap(self) -> int | None:
        """The most completion tokens the client allowed, if it said."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens


Prompt = str | list[Any]
"""A legacy completions ``prompt`` or an embeddings ``input``: a string, a list of strings,
a list of token ids, or a list of token-id lists (checked by ``_check_prompt``)."""


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value)


def _check_prompt(name: str, value: Prompt) -> None:
    if value == "" or value == []:
        raise ValueError(f"{name}: must not be empty")
    if isinstance(value, str) or _is_tokens(value):
        return
    if not all(isinstance(item, str) or _is_tokens(item) for item in value):
        raise ValueError(f"{name}: expected a string, a list of strings or token ids")


class CompletionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/completions`` (legacy text completions)."""

    model: str
    prompt: Prompt
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    n: int | None = None
    best_of: int | None = None
    echo: bool | None = None
    logprobs: int | None = None
    suffix: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model: must be a non-empty string")
        _check_prompt("prompt", self.prompt)

    @property
    def is_streaming(self) -> bool:
        return bool(self.stream)

    @property
    def output_token_cap(self) -> int | None:
        return self.max_tokens


class EmbeddingRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/embeddings``."""

    model: str
    input: Prompt
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model: must be a non-empty string")
        _check_prompt("input", self.input)
        if self.dimensions is not None and self.dimensions < 1:
            raise ValueError("dimensions: must be a positive integer")

    @property
    def is_streaming(self) -> bool:
        return False

    @property
    def output_token_cap(self) -> int | None:
        return 0


class ResponsesRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/responses`` (the fields the gateway checks; the rest is read in translation)."""

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    stream: bool | None = False
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model: must be a non-empty string")

    @property
    def is_streaming(self) -> bool:
        return bool(self.stream)

    @property
    def output_token_cap(self) -> int | None:
        return self.max_output_tokens

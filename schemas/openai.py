"""OpenAI wire types the gateway validates at the edge.

These records check the fields the gateway itself relies on (their presence and types); the
request body is forwarded as the client sent it, so fields this file does not name still reach
the upstream untouched.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["ChatCompletionRequest", "ChatMessage", "StreamOptions"]

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

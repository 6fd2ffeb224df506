"""Token usage as providers report it, normalised to one record."""

from __future__ import annotations

import msgspec

__all__ = ["TokenUsage"]


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens read from the provider's prompt cache (included in ``prompt_tokens``)."""
    reasoning_tokens: int = 0
    """Completion tokens spent on hidden reasoning (included in ``completion_tokens``)."""
    is_estimated: bool = False
    """True when counted by the gateway because the upstream gave no numbers."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

"""Usage events: what the provider charged for, and what it cost."""

from __future__ import annotations

from schemas.events.envelope import EventPayload

__all__ = ["UsageRecorded"]


class UsageRecorded(EventPayload, frozen=True, kw_only=True):
    TYPE = "usage.recorded"
    VERSION = 1

    key_id: str | None
    user_id: str | None = None
    team_id: str | None = None
    org_id: str | None = None
    end_user: str | None = None
    model_requested: str
    deployment: str
    provider: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from the provider's cache (a subset of ``prompt_tokens``)."""
    reasoning_tokens: int = 0
    """Completion tokens spent on reasoning (a subset of ``completion_tokens``)."""
    cost_micros: int = 0
    """Cost in integer micro-dollars at ``price_version``."""
    price_version: str = ""
    price_known: bool = True
    """False when no price was found; the cost is then 0 and never fails the request."""
    usage_estimated: bool = False
    """True when the gateway counted tokens itself because the upstream reported none."""
    is_partial: bool = False
    """True when the call broke mid-way and this is what was consumed until then."""

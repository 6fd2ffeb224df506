"""Admin events: every change made through the management API or CLI."""

from __future__ import annotations

from schemas.events.envelope import EventPayload

__all__ = ["KeyCreated"]


class KeyCreated(EventPayload, frozen=True, kw_only=True):
    TYPE = "admin.key.created"
    VERSION = 1

    key_id: str
    key_hash: str
    """HMAC-SHA256 of the raw key under the server's hash secret (hex); never the raw key."""
    key_prefix: str
    """First characters of the raw key, so a human can tell keys apart (``sk-llmux-ab12``)."""
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    org_id: str | None = None
    models: list[str] = []
    """Models the key may call; empty means every model."""
    metadata: dict[str, str] = {}
    source_ip: str | None = None

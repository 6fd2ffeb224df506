"""Management API request bodies, with the LiteLLM field names operators already script against."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["KeyGenerateRequest"]


class KeyGenerateRequest(msgspec.Struct, frozen=True, kw_only=True):
    key_alias: str | None = None
    key_name: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    organization_id: str | None = None
    models: list[str] = []
    metadata: dict[str, Any] = {}

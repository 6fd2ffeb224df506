"""Creating virtual keys.

The raw key exists only in the response to its creator: the registry and the ``KeyCreated`` event
carry its HMAC hash and a short prefix. The creating instance knows the key at once; every other
instance learns it from the admin event on the bus.
"""

from __future__ import annotations

import uuid
from typing import Any

from ingress.accounting import EventSink
from ingress.auth import Caller, KeyRegistry
from ingress.secrets import new_raw_key
from projections import KeyRecord
from schemas.events import EventEnvelope, KeyCreated
from schemas.management import KeyGenerateRequest

__all__ = ["KeyService"]

_PREFIX_LENGTH = 13  # "sk-llmux-" and four random characters


class KeyService:
    def __init__(self, registry: KeyRegistry, sink: EventSink) -> None:
        self._registry = registry
        self._sink = sink

    def generate(self, caller: Caller, request: KeyGenerateRequest, *, source_ip: str | None,
                 request_id: str | None, raw_key: str | None = None) -> dict[str, Any]:
        """Create a key; the returned body holds the raw key, which is never shown again."""
        raw_key = raw_key or new_raw_key()
        event = KeyCreated(
            key_id=uuid.uuid4().hex,
            key_hash=self._registry.hash_key(raw_key),
            key_prefix=raw_key[:_PREFIX_LENGTH],
            key_alias=request.key_alias or request.key_name,
            user_id=request.user_id,
            team_id=request.team_id,
            org_id=request.organization_id,
            models=list(request.models),
            metadata={str(k): str(v) for k, v in request.metadata.items()},
            source_ip=source_ip,
        )
        envelope = EventEnvelope.wrap(event, actor=caller.actor, request_id=request_id)
        self._registry.add(KeyRecord.from_event(event, envelope.occurred_at))
        self._sink.publish_nowait(envelope)
        return {
            "key": raw_key,
            "token_id": event.key_id,
            "key_prefix": event.key_prefix,
            "key_alias": event.key_alias,
            "models": event.models,
            "user_id": event.user_id,
            "team_id": event.team_id,
            "organization_id": event.org_id,
            "metadata": event.metadata,
        }

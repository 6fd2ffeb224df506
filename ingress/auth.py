"""Who is calling: the in-memory key registry and the check on every request.

Keys are stored only as HMAC-SHA256 hashes under the server's hash secret, so neither the event log
nor the database can give a key back. The registry lives in process memory: authenticating a request
is one HMAC and one dict lookup, never a database read, and it keeps working when the database is
slow. It is filled at startup from the key registry projection and kept current by admin events.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from projections import KeyRecord
from schemas.errors import AuthenticationFailed, PermissionDenied

__all__ = ["Caller", "KeyRegistry", "bearer_token"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request (on ``req.context.caller``)."""

    is_admin: bool
    key: KeyRecord | None = None

    @property
    def key_id(self) -> str | None:
        return self.key.key_id if self.key else None

    @property
    def actor(self) -> str:
        """How events name this caller."""
        if self.key is not None:
            return f"key:{self.key.key_id}"
        return "admin" if self.is_admin else "anonymous"

    def check_model(self, model: str) -> None:
        """Raise ``PermissionDenied`` unless this caller may call ``model``."""
        if self.key is None or not self.key.models or "*" in self.key.models:
            return
        if model not in self.key.models:
            raise PermissionDenied(
                f"This key is not allowed to call model {model!r}.", param="model",
                code="model_not_allowed",
            )

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("This endpoint needs the master key.", code="admin_required")


def bearer_token(authorization: str | None, api_key_header: str | None) -> str | None:
    """The key from ``Authorization: Bearer …`` or Anthropic's ``x-api-key``."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return api_key_header.strip() if api_key_header else None


class KeyRegistry:
    """Every virtual key this instance knows, by hash; plus the master key."""

    def __init__(self, hash_secret: bytes, master_key: str | None) -> None:
        self._hash_secret = hash_secret
        self._master_hash = self.hash_key(master_key) if master_key else None
        self._by_hash: dict[str, KeyRecord] = {}

    def hash_key(self, raw_key: str) -> str:
        return hmac.new(self._hash_secret, raw_key.encode(), hashlib.sha256).hexdigest()

    def add(self, record: KeyRecord) -> None:
        self._by_hash[record.key_hash] = record

    def load(self, records: Iterable[KeyRecord]) -> None:
        for record in records:
            self.add(record)

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, raw_key: str | None) -> Caller:
        """The caller for ``raw_key``; ``AuthenticationFailed`` for none or an unknown key."""
        if not raw_key:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                code="missing_api_key",
            )
        digest = self.hash_key(raw_key)
        if self._master_hash is not None and hmac.compare_digest(digest, self._master_hash):
            return Caller(is_admin=True)
        record = self._by_hash.get(digest)
        if record is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return Caller(is_admin=False, key=record)

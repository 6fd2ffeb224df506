"""Secrets the gateway needs before it can authenticate anyone.

In distributed mode every ingress instance must hash keys identically, so ``auth.hash_secret`` comes
from config. Standalone mode must work with no configuration at all, so a laptop install generates
its secrets once and keeps them in ``<data_dir>/secrets.json`` (mode 0600).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from schemas.config import LLMuxConfig

__all__ = ["GatewaySecrets", "SecretsError", "load_secrets", "new_raw_key"]

_KEY_PREFIX = "sk-llmux-"


class SecretsError(RuntimeError):
    """A required secret is missing; the message names the config key to set."""


@dataclass(frozen=True, slots=True)
class GatewaySecrets:
    hash_secret: bytes
    master_key: str | None
    demo_key: str | None = None
    """Standalone with no configured master key only: a virtual key created on first start, so
    ``make run`` works out of the box."""


def new_raw_key() -> str:
    """A fresh virtual key: ``sk-llmux-`` and 43 URL-safe random characters (256 bits)."""
    return _KEY_PREFIX + secrets.token_urlsafe(32)


def load_secrets(config: LLMuxConfig) -> GatewaySecrets:
    """The secrets for ``config``: from config, else (standalone) from or into the data dir."""
    if config.is_distributed:
        if not config.auth.hash_secret:
            raise SecretsError(
                "auth.hash_secret must be set in distributed mode "
                "(every instance must hash keys alike)"
            )
        return GatewaySecrets(config.auth.hash_secret.encode(), config.auth.master_key)
    stored = _load_or_create_local(Path(config.deployment.data_dir) / "secrets.json")
    hash_secret = (config.auth.hash_secret or stored["hash_secret"]).encode()
    if config.auth.master_key:
        return GatewaySecrets(hash_secret, config.auth.master_key)
    return GatewaySecrets(hash_secret, stored["master_key"], demo_key=stored["demo_key"])


def _load_or_create_local(path: Path) -> dict[str, str]:
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "hash_secret": secrets.token_urlsafe(32),
        "master_key": "sk-llmux-master-" + secrets.token_urlsafe(24),
        "demo_key": new_raw_key(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return data

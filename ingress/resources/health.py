"""Liveness and readiness.

``/health/live`` says the process answers. ``/health/ready`` says every dependency this instance was
configured with answers (bus, database, Redis), so a load balancer only sends traffic it can serve.
A check answers True (``ok``), False (``unavailable``), or a :class:`CheckStatus` when it has more
to say, e.g. ``admission: fail_open`` while Redis is down but requests are still admitted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import falcon
import falcon.asgi
import orjson

__all__ = ["CheckStatus", "Liveness", "Readiness", "ReadinessCheck"]


@dataclass(frozen=True, slots=True)
class CheckStatus:
    """A check's answer with its own status text."""

    ready: bool
    """Whether this check lets the instance count as ready."""
    status: str
    """What ``/health/ready`` shows for the check."""


ReadinessCheck = Callable[[], Awaitable[bool | CheckStatus]]


class Liveness:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.data = b'{"status":"ok"}'
        resp.content_type = falcon.MEDIA_JSON


class Readiness:
    def __init__(self, checks: Mapping[str, ReadinessCheck]) -> None:
        self._checks = dict(checks)

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        results = {name: await _safe(check) for name, check in self._checks.items()}
        ready = all(result.ready for result in results.values())
        resp.status = 200 if ready else 503
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps({
            "status": "ready" if ready else "not_ready",
            "checks": {name: result.status for name, result in results.items()},
        })


_OK = CheckStatus(True, "ok")
_UNAVAILABLE = CheckStatus(False, "unavailable")


async def _safe(check: ReadinessCheck) -> CheckStatus:
    try:
        result = await check()
    except Exception:
        return _UNAVAILABLE
    if isinstance(result, CheckStatus):
        return result
    return _OK if result else _UNAVAILABLE

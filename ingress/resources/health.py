"""Liveness and readiness.

``/health/live`` says the process answers. ``/health/ready`` says every dependency this instance was
configured with answers (bus, database, Redis), so a load balancer only sends traffic it can serve.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import falcon
import falcon.asgi
import orjson

__all__ = ["Liveness", "Readiness"]

ReadinessCheck = Callable[[], Awaitable[bool]]


class Liveness:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.data = b'{"status":"ok"}'
        resp.content_type = falcon.MEDIA_JSON


class Readiness:
    def __init__(self, checks: Mapping[str, ReadinessCheck]) -> None:
        self._checks = dict(checks)

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        results = {name: await _safe(check) for name, check in self._checks.items()}
        ready = all(results.values())
        resp.status = 200 if ready else 503
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps({
            "status": "ready" if ready else "not_ready",
            "checks": {name: "ok" if ok else "unavailable" for name, ok in results.items()},
        })


async def _safe(check: ReadinessCheck) -> bool:
    try:
        return await check()
    except Exception:
        return False

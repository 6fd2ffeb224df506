"""``GET /spend/keys``: spend per key per UTC day, from the spend projection (master key)."""

from __future__ import annotations

from typing import Any, Protocol

import falcon
import falcon.asgi
import orjson

from ingress.auth import Caller

__all__ = ["SpendByKey", "SpendReader"]


class SpendReader(Protocol):
    async def spend_by_key(self, key_id: str | None = None) -> list[dict[str, Any]]: ...


class SpendByKey:
    def __init__(self, reader: SpendReader) -> None:
        self._reader = reader

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        caller: Caller = req.context.caller
        caller.require_admin_read()
        rows = await self._reader.spend_by_key(req.get_param("key_id") or req.get_param("key"))
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps(rows)

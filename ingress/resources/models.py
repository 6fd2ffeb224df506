"""``GET /v1/models`` and ``GET /v1/models/{id}``: what the caller may call."""

from __future__ import annotations

import falcon
import falcon.asgi
import orjson

from ingress.auth import Caller
from router_engine import Router
from schemas.errors import ModelNotFound

__all__ = ["Models"]


class Models:
    def __init__(self, router: Router) -> None:
        self._router = router

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        caller: Caller = req.context.caller
        data = [self._model_object(name) for name in self._visible(caller)]
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps({"object": "list", "data": data})

    async def on_get_item(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                          model_id: str) -> None:
        caller: Caller = req.context.caller
        if model_id not in self._visible(caller):
            raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps(self._model_object(model_id))

    def _visible(self, caller: Caller) -> list[str]:
        return [name for name in self._router.model_names() if caller.may_use(name)]

    def _model_object(self, name: str) -> dict[str, object]:
        owner = self._router.resolve(name)[0].provider_name
        return {"id": name, "object": "model", "created": 0, "owned_by": owner}

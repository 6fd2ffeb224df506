"""Routes of the OpenAI API the gateway does not serve yet (``/v1/audio/*``, ``/v1/batches``).

They answer 400 ``invalid_request_error`` with code ``not_supported`` for every method, so an
SDK call fails with a clear message instead of a 404 that reads like a wrong base URL.
"""

from __future__ import annotations

import falcon.asgi

from schemas.errors import NotSupported

__all__ = ["NotSupportedRoute"]


class NotSupportedRoute:
    def __init__(self, feature: str) -> None:
        self._feature = feature

    async def _refuse(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                      **params: str) -> None:
        raise NotSupported(f"{self._feature} ({req.method} {req.path}) is not supported by this "
                           "gateway.")

    on_get = on_post = on_put = on_patch = on_delete = _refuse

"""``/control/deployments``: routing state per deployment (admins and admin viewers), and
cooldowns (admins: the master key, or a key acting as a proxy admin)."""

from __future__ import annotations

import falcon
import falcon.asgi
import orjson

from ingress.auth import Caller
from ingress.body import read_json_object, validate
from ingress.routing_control import CooldownRequest, RoutingControl
from schemas.errors import InvalidRequest

__all__ = ["DeploymentCooldown", "Deployments"]


def _json(resp: falcon.asgi.Response, body: object) -> None:
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(body)


class Deployments:
    """``GET /control/deployments``."""

    def __init__(self, control: RoutingControl) -> None:
        self._control = control

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        caller: Caller = req.context.caller
        caller.require_admin_read()
        _json(resp, self._control.deployments())


class DeploymentCooldown:
    """``POST /control/deployments/cooldown`` sets (``seconds: 0`` clears); ``DELETE`` clears."""

    def __init__(self, control: RoutingControl, max_body_bytes: int) -> None:
        self._control = control
        self._max_body_bytes = max_body_bytes

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        caller: Caller = req.context.caller
        caller.require_admin()
        request = validate(await read_json_object(req, self._max_body_bytes), CooldownRequest)
        _json(resp, await self._control.set_cooldown(request))

    async def on_delete(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        caller: Caller = req.context.caller
        caller.require_admin()
        deployment = req.get_param("deployment")
        if deployment is None and req.content_length:
            deployment = (await read_json_object(req, self._max_body_bytes)).get("deployment")
        if not isinstance(deployment, str) or not deployment:
            raise InvalidRequest("Name the deployment: ?deployment=<id> or {\"deployment\": ...}.",
                                 param="deployment", code="missing_required_parameter")
        _json(resp, await self._control.clear_cooldown(deployment))

"""What every management resource shares: typed bodies, query parameters, the change context."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import falcon
import falcon.asgi

from ingress.auth import Caller
from ingress.body import read_json_object, validate
from ingress.control.changes import ChangeContext
from ingress.control.service import ListQuery
from ingress.control.views import encode_json
from schemas.errors import InvalidRequest

__all__ = ["ManagementResource"]

T = TypeVar("T")

_MAX_PAGE = 1000


class ManagementResource:
    """Base of the ``/key``, ``/user``, ``/team``, ``/organization`` and ``/end_user`` resources."""

    def __init__(self, max_body_bytes: int) -> None:
        self._max_body_bytes = max_body_bytes

    async def _body(self, req: falcon.asgi.Request, schema: type[T]) -> T:
        return validate(await read_json_object(req, self._max_body_bytes), schema)

    @staticmethod
    def _caller(req: falcon.asgi.Request) -> Caller:
        caller: Caller = req.context.caller
        return caller

    @staticmethod
    def _context(req: falcon.asgi.Request) -> ChangeContext:
        return ChangeContext(caller=req.context.caller, source_ip=req.remote_addr,
                             request_id=req.context.request_id, now=datetime.now(UTC))

    @staticmethod
    def _send(resp: falcon.asgi.Response, body: Any) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = encode_json(body)

    @staticmethod
    def _required(req: falcon.asgi.Request, name: str) -> str:
        value = req.get_param(name)
        if not value:
            raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name,
                                 code="missing_required_parameter")
        return str(value)

    @staticmethod
    def _list_query(req: falcon.asgi.Request) -> ListQuery:
        return ListQuery(
            team_id=req.get_param("team_id"), user_id=req.get_param("user_id"),
            organization_id=req.get_param("organization_id"), role=req.get_param("role"),
            search=req.get_param("search"), key_alias=req.get_param("key_alias"),
            limit=_int_param(req, "limit", 50, 1, _MAX_PAGE),
            offset=_int_param(req, "offset", 0, 0, None),
        )


def _int_param(req: falcon.asgi.Request, name: str, default: int, low: int,
               high: int | None) -> int:
    text = req.get_param(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidRequest(f"Invalid value for '{name}': expected an integer.", param=name,
                             code="invalid_value") from None
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"Invalid value for '{name}': expected {bound}.", param=name,
                             code="invalid_value")
    return value

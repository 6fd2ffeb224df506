"""Reading and validating request bodies at the edge.

The size limit is enforced before and while reading (Falcon has none), JSON is parsed once with
orjson, and the typed view is checked with msgspec so errors name the offending field.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import falcon.asgi
import msgspec
import orjson

from schemas.errors import InvalidRequest, PayloadTooLarge

__all__ = ["read_json_object", "validate"]

T = TypeVar("T")

_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


async def read_json_object(req: falcon.asgi.Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; 413 above ``max_bytes``, 400 for anything but a JSON object."""
    if req.content_length is not None and req.content_length > max_bytes:
        raise PayloadTooLarge(f"Request body is larger than the limit of {max_bytes} bytes.")
    raw = await req.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"Request body is larger than the limit of {max_bytes} bytes.")
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. Send valid JSON."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def validate(body: dict[str, Any], schema: type[T]) -> T:
    """``body`` checked against ``schema``; a 400 naming the field on any mismatch."""
    try:
        return msgspec.convert(body, schema)
    except msgspec.ValidationError as exc:
        raise _as_invalid_request(str(exc)) from None


def _as_invalid_request(text: str) -> InvalidRequest:
    match = _PATH.match(text)
    assert match is not None  # matches any string
    message, path = match.group("message"), (match.group("path") or "").lstrip(".")
    missing = _MISSING.fullmatch(message)
    if missing:
        field = f"{path}.{missing.group('field')}" if path else missing.group("field")
        return InvalidRequest(f"Missing required parameter: '{field}'.", param=field,
                              code="missing_required_parameter")
    head, sep, rest = message.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", head):
        path = f"{path}.{head}" if path else head
        message = rest
    if path:
        return InvalidRequest(f"Invalid value for '{path}': {message}", param=path,
                              code="invalid_value")
    return InvalidRequest(f"Invalid request: {message}")

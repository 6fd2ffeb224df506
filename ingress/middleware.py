"""Per-request facts on ``req.context``: the request id and the authenticated caller.

Authentication happens here, once, before any body is read, so an unauthenticated client can't
make the gateway parse megabytes of JSON. Public paths (health, metrics) skip it.
"""

from __future__ import annotations

import random

import falcon.asgi

from ingress.auth import KeyRegistry, bearer_token

__all__ = ["RequestContextMiddleware"]

_MAX_REQUEST_ID_CHARS = 128


# PERF: ``uuid.uuid4()`` reads ``os.urandom``, which releases the GIL; in standalone mode the
# ledger and projector threads then hold it for up to the 5 ms switch interval, so the call took
# 120-520 µs of wall time per request (cProfile, in-process driver, docs/performance.md step 2).
# ``random.getrandbits`` is ~0.2 µs and never releases the GIL; the module-level generator is
# seeded from ``os.urandom`` and re-seeded in a forked child by CPython, so ids stay unique across
# workers. Request ids are not secrets (clients may send their own).
def _new_request_id() -> str:
    """32 random hex digits, like ``uuid4().hex``."""
    return f"{random.getrandbits(128):032x}"


class RequestContextMiddleware:
    def __init__(self, registry: KeyRegistry, public_paths: frozenset[str]) -> None:
        self._registry = registry
        self._public_paths = public_paths

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        request_id = req.get_header("x-request-id") or _new_request_id()
        if len(request_id) > _MAX_REQUEST_ID_CHARS:
            request_id = _new_request_id()
        req.context.request_id = request_id
        resp.set_header("x-request-id", request_id)
        req.context.caller = None
        if req.path in self._public_paths:
            return
        token = bearer_token(req.get_header("authorization"), req.get_header("x-api-key"))
        req.context.caller = self._registry.authenticate(token)

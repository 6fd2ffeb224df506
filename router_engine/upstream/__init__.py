"""The HTTP client to upstream providers, behind the two-method ``Transport`` interface.

Owns the transports (``Http1Transport``, the default for real upstreams; aiohttp as an alternative;
a handler-backed mock with no sockets). Imports only ``schemas``; the only place in the gateway that
names aiohttp or httptools exceptions.
"""

from router_engine.upstream.aiohttp_transport import AiohttpTransport
from router_engine.upstream.base import Transport, UpstreamRequest, UpstreamResponse
from router_engine.upstream.http1_transport import Http1Transport
from router_engine.upstream.mock import MockHandler, MockTransport, static_response

__all__ = [
    "AiohttpTransport",
    "Http1Transport",
    "MockHandler",
    "MockTransport",
    "Transport",
    "UpstreamRequest",
    "UpstreamResponse",
    "static_response",
]

"""Gateway lifecycle facts."""

from __future__ import annotations

from schemas.events.envelope import EventPayload

__all__ = ["GatewayStarted"]


class GatewayStarted(EventPayload, frozen=True, kw_only=True):
    """A gateway instance started.

    Besides telling the audit log when instances restarted, it is a barrier: an instance that
    published it knows that once a projection has applied it, the projection has applied every
    event published before it (the bus, the ledger and the projections all keep order).
    """

    TYPE = "gateway.started"
    VERSION = 1

    instance_id: str
    """Random id of this run of the instance."""
    mode: str
    """``standalone``, ``distributed`` or ``development``."""

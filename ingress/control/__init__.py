"""The control plane: organizations, teams, users, end users and virtual keys.

Every change is an admin event (``schemas.events.admin``). Each ingress instance keeps the whole
control state in memory (:class:`ControlState`), loaded from the control projection at startup and
then kept current by applying every admin event from the bus, so authentication, model access and
the limits of a request (:meth:`ControlState.limits_for`) never read a database.

The management services (``keys``, ``users``, ``teams``, ``organizations``, ``end_users``) check
the caller's role (``authz``), build the events (``changes``) and render entities with the
LiteLLM field names (``views``); ``ingress.app`` imports them from their modules.
"""

from ingress.control.access import ModelAccess, expand_allow_list
from ingress.control.limits import LimitedEntity, scope_limits
from ingress.control.state import ControlState, LimitSubject

__all__ = [
    "ControlState",
    "LimitSubject",
    "LimitedEntity",
    "ModelAccess",
    "expand_allow_list",
    "scope_limits",
]

"""The management API: its services, built once, and its routes, added to an app.

``create_app`` builds one :class:`ManagementAPI` and installs it on the main app (behind admin
auth) or, when ``server.admin_port`` is set, on the admin app only. Every path accepts the
methods LiteLLM scripts use: POST for changes (also PATCH for updates and DELETE for deletes),
GET for reads.
"""

from __future__ import annotations

from typing import Any

import falcon.asgi

from ingress.auth import KeyRegistry
from ingress.control.authz import Permissions
from ingress.control.changes import AdminEventSink, ChangeRecorder
from ingress.control.end_users import EndUserManagement
from ingress.control.keys import KeyManagement
from ingress.control.organizations import OrganizationManagement
from ingress.control.teams import TeamManagement
from ingress.control.users import UserManagement
from ingress.resources.end_users import EndUsers
from ingress.resources.keys import Keys
from ingress.resources.organizations import Organizations
from ingress.resources.teams import Teams
from ingress.resources.users import Users

__all__ = ["MANAGEMENT_ROUTES", "ManagementAPI"]

_END_USER_ROUTES = ("new", "update", "delete", "info", "list", "block", "unblock")

MANAGEMENT_ROUTES: dict[str, tuple[str, ...]] = {
    "/key": ("generate", "update", "delete", "info", "list", "block", "unblock", "regenerate"),
    "/user": ("new", "update", "delete", "info", "list"),
    "/team": ("new", "update", "delete", "info", "list", "block", "unblock", "member_add",
              "member_delete"),
    "/organization": ("new", "update", "delete", "info", "list", "members", "member_add",
                      "member_update", "member_delete"),
    "/end_user": _END_USER_ROUTES,
    "/customer": _END_USER_ROUTES,
}
"""Every management path: ``<prefix>/<suffix>``, served by the responder named for the suffix."""


class ManagementAPI:
    """The management services over one registry's control state, publishing to ``sink``."""

    def __init__(self, registry: KeyRegistry, sink: AdminEventSink) -> None:
        state = registry.state
        recorder = ChangeRecorder(state, sink)
        permissions = Permissions(state)
        self.keys = KeyManagement(registry, recorder, permissions)
        self.users = UserManagement(state, recorder, permissions, self.keys)
        self.teams = TeamManagement(state, recorder, permissions, self.keys)
        self.organizations = OrganizationManagement(state, recorder, permissions)
        self.end_users = EndUserManagement(state, recorder, permissions)

    def install(self, app: falcon.asgi.App[Any, Any], max_body_bytes: int) -> None:
        """Add every management route to ``app``."""
        resources: dict[str, object] = {
            "/key": Keys(self.keys, max_body_bytes),
            "/user": Users(self.users, max_body_bytes),
            "/team": Teams(self.teams, max_body_bytes),
            "/organization": Organizations(self.organizations, max_body_bytes),
            "/end_user": EndUsers(self.end_users, max_body_bytes),
        }
        resources["/customer"] = resources["/end_user"]
        for prefix, suffixes in MANAGEMENT_ROUTES.items():
            for suffix in suffixes:
                app.add_route(f"{prefix}/{suffix}", resources[prefix], suffix=suffix)

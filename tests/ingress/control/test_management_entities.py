"""``/user``, ``/team``, ``/organization`` and ``/end_user`` in process: fields stored and returned,
blocks and deletions in force at once (cascading to keys and memberships), each change an admin
event with before and after, and every route answering the methods LiteLLM scripts use."""

from __future__ import annotations

from typing import Any

from ingress.control.api import MANAGEMENT_ROUTES
from schemas.events import (
    KeyChange,
    OrganizationChange,
    TeamChange,
    UserChange,
)
from tests.ingress.control.conftest import Gateway

LIMITS = {"max_budget": 100, "soft_budget": 80.5, "budget_duration": "1mo", "tpm_limit": 10_000,
          "rpm_limit": 100, "max_parallel_requests": 8, "model_max_budget": {"mock-gpt": 5},
          "model_tpm_limit": {"mock-gpt": 1000}, "model_rpm_limit": {"mock-gpt": 10},
          "metadata": {"cost_center": "42"}}


def _has(body: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        assert body[name] == value, (name, body[name], value)


async def test_an_organization_tree_is_built_changed_and_torn_down(gateway: Gateway) -> None:
    org = await gateway.ok("POST", "/organization/new", json={
        "organization_id": "acme", "organization_alias": "Acme", "models": ["mock-gpt"],
        "model_groups": {"cheap": ["mock-mini"]}, **LIMITS})
    _has(org, {"organization_id": "acme", "model_groups": {"cheap": ["mock-mini"]}, **LIMITS})
    team = await gateway.ok("POST", "/team/new", json={
        "team_id": "support", "team_alias": "Support", "organization_id": "acme",
        "models": ["mock-gpt", "mock-mini"], **LIMITS})
    _has(team, {"organization_id": "acme", "members_with_roles": [], **LIMITS})
    user = await gateway.ok("POST", "/user/new", json={
        "user_id": "ann", "user_email": "ann@acme.test", "team_id": "support", **LIMITS})
    _has(user, {"organization_id": "acme", "teams": ["support"], "user_role": "internal_user",
                **LIMITS})
    member = await gateway.ok("POST", "/organization/member_add", json={
        "organization_id": "acme", "members": [{"user_id": "ann", "user_role": "org_admin",
                                                "max_budget": 3}]})
    assert member["members"] == [{"user_id": "ann", "user_role": "org_admin", "max_budget": 3}]
    updated = await gateway.ok("POST", "/organization/member_update", json={
        "organization_id": "acme", "user_id": "ann", "user_role": "internal_user"})
    assert updated["members"][0]["user_role"] == "internal_user"
    key = await gateway.ok("POST", "/key/generate", json={"user_id": "ann", "team_id": "support"})

    assert (await gateway.chat(key["key"]))[0] == 200
    assert (await gateway.chat(key["key"], "mock-mini"))[0] == 403  # the org allows mock-gpt
    await gateway.ok("PATCH", "/organization/update", json={"organization_id": "acme",
                                                            "models": ["mock-gpt", "cheap"]})
    assert (await gateway.chat(key["key"], "mock-mini"))[0] == 200  # via the org's group
    await gateway.ok("POST", "/team/block", json={"team_id": "support"})
    status, body = await gateway.chat(key["key"])
    assert (status, body["error"]["code"]) == (403, "team_blocked")
    await gateway.ok("POST", "/team/unblock", json={"team_id": "support"})
    assert (await gateway.chat(key["key"]))[0] == 200

    info = await gateway.ok("GET", "/team/info", params={"team_id": "support"})
    assert info["members"] == [{"user_id": "ann", "role": "user"}]
    assert [k["token_id"] for k in info["keys"]] == [key["token_id"]]
    user_info = await gateway.ok("GET", "/user/info", params={"user_id": "ann"})
    assert [k["token_id"] for k in user_info["keys"]] == [key["token_id"]]
    org_info = await gateway.ok("GET", "/organization/info", params={"organization_id": "acme"})
    assert org_info["teams"] == ["support"] and org_info["budget"]["max_budget"] == 100

    status, error = await gateway.call("DELETE", "/organization/delete",
                                       json={"organization_ids": ["acme"]})
    assert status == 400 and error["error"]["param"] == "organization_ids"
    assert (await gateway.ok("POST", "/user/delete", json={"user_ids": ["ann"]})) == {
        "deleted_users": ["ann"]}
    assert (await gateway.chat(key["key"]))[0] == 401  # the user's keys went with the user
    team_after = await gateway.ok("GET", "/team/info", params={"team_id": "support"})
    assert team_after["members"] == []
    await gateway.ok("POST", "/team/delete", json={"team_ids": ["support"]})
    await gateway.ok("DELETE", "/organization/delete", json={"organization_ids": ["acme"]})
    assert (await gateway.call("GET", "/organization/info",
                               params={"organization_id": "acme"}))[0] == 404

    events = await gateway.admin_events(16)
    types = [envelope.type for envelope, _ in events]
    assert types == [
        "admin.organization.created", "admin.team.created", "admin.user.created",
        "admin.team.member_added", "admin.organization.member_added",
        "admin.organization.member_updated", "admin.key.created",
        "admin.organization.updated", "admin.team.blocked", "admin.team.unblocked",
        "admin.key.deleted", "admin.team.member_removed", "admin.organization.member_removed",
        "admin.user.deleted", "admin.team.deleted", "admin.organization.deleted"]
    for _, change in events[1:]:
        if isinstance(change, KeyChange | TeamChange | UserChange | OrganizationChange):
            assert change.before is not None or change.after is not None
    org_update = next(c for e, c in events if e.type == "admin.organization.updated")
    assert isinstance(org_update, OrganizationChange) and org_update.before and org_update.after
    assert (org_update.before.models, org_update.after.models) == (
        ["mock-gpt"], ["mock-gpt", "cheap"])


async def test_end_users_are_limited_and_blocked_on_any_key(gateway: Gateway) -> None:
    created = await gateway.ok("POST", "/customer/new", json={
        "user_id": "shopper-7", "alias": "Shopper", "models": ["mock-gpt"], **LIMITS})
    _has(created, {"user_id": "shopper-7", "alias": "Shopper", **LIMITS})
    key = await gateway.ok("POST", "/key/generate", json={})
    assert (await gateway.chat(key["key"], "mock-mini", user="shopper-7"))[0] == 403
    assert (await gateway.chat(key["key"], "mock-mini", user="someone-else"))[0] == 200
    await gateway.ok("POST", "/end_user/block", json={"user_ids": ["shopper-7"]})
    status, body = await gateway.chat(key["key"], "mock-gpt", user="shopper-7")
    assert (status, body["error"]["code"]) == (403, "end_user_blocked")
    await gateway.ok("POST", "/end_user/unblock", json={"user_ids": ["shopper-7"]})
    assert (await gateway.chat(key["key"], "mock-gpt", user="shopper-7"))[0] == 200
    listed = await gateway.ok("GET", "/end_user/list")
    assert [item["user_id"] for item in listed["data"]] == ["shopper-7"]
    await gateway.ok("DELETE", "/end_user/delete", json={"user_ids": ["shopper-7"]})
    assert (await gateway.call("GET", "/end_user/info", params={"user_id": "shopper-7"}))[0] == 404


_METHODS = {"new": ("POST",), "generate": ("POST",), "update": ("POST", "PATCH"),
            "delete": ("POST", "DELETE"), "info": ("GET",), "list": ("GET",),
            "members": ("GET",), "block": ("POST",), "unblock": ("POST",),
            "regenerate": ("POST",), "member_add": ("POST",),
            "member_update": ("POST", "PATCH"), "member_delete": ("POST", "DELETE")}


async def test_every_route_answers_its_methods(gateway: Gateway) -> None:
    for prefix, suffixes in MANAGEMENT_ROUTES.items():
        for suffix in suffixes:
            for method in _METHODS[suffix]:
                status, body = await gateway.call(method, f"{prefix}/{suffix}",
                                                  json={} if method != "GET" else None)
                # an empty body or no parameters is a 400 or 404 naming what is missing
                assert status in (200, 400, 404), (method, prefix, suffix, status, body)
                if status != 200:
                    assert body["error"]["code"] != "unknown_route", (method, prefix, suffix)
                    assert "Unknown route" not in body["error"]["message"]
            status, _ = await gateway.call("PUT", f"{prefix}/{suffix}", json={})
            assert status == 405

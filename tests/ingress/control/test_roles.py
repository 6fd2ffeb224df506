"""Roles by endpoints: who may read and change what, across two organizations.

One world, built through the API with the master key::

    org A ── team A1 (admin: lead-a1; members: dev-a1, watcher-a1) ── keys of each, + a team key
         └─ team A2
         └─ org admin: boss-a
    org B ── team B1 (member: dev-b1) ── key of dev-b1, + a team key
    proxy admin: root; proxy admin viewer: auditor

Each case is (caller, method, path, body or params) → allowed or not. A refusal is a 403 or a
404 and never carries the target's data.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ingress.control.conftest import MASTER, Gateway

Case = tuple[str, str, str, Any, bool]


async def _world(gw: Gateway) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name in ("A", "B"):
        created = await gw.ok("POST", "/organization/new", json={"organization_alias": name})
        ids[f"org{name}"] = created["organization_id"]
    for alias, parent in (("A1", "A"), ("A2", "A"), ("B1", "B")):
        created = await gw.ok("POST", "/team/new", json={
            "team_alias": alias, "organization_id": ids[f"org{parent}"]})
        ids[alias] = created["team_id"]
    users: dict[str, tuple[str, str | None, str | None]] = {
             "root": ("proxy_admin", None, None), "auditor": ("proxy_admin_viewer", None, None),
             "boss-a": ("org_admin", "A", None), "lead-a1": ("internal_user", "A", "A1"),
             "dev-a1": ("internal_user", "A", "A1"),
             "watcher-a1": ("internal_user_viewer", "A", "A1"),
             "dev-b1": ("internal_user", "B", "B1")}
    for user_id, (role, org, team) in users.items():
        body: dict[str, Any] = {"user_id": user_id, "user_role": role}
        if org:
            body["organization_id"] = ids[f"org{org}"]
        if team:
            body["team_id"] = ids[team]
        await gw.ok("POST", "/user/new", json=body)
        key: dict[str, Any] = {"user_id": user_id, "key_alias": user_id}
        if team:
            key["team_id"] = ids[team]
        created = await gw.ok("POST", "/key/generate", json=key)
        ids[f"key:{user_id}"], ids[f"id:{user_id}"] = created["key"], created["token_id"]
    spare = await gw.ok("POST", "/key/generate", json={"user_id": "dev-a1", "team_id": ids["A1"]})
    ids["key:dev-a1-spare"], ids["id:dev-a1-spare"] = spare["key"], spare["token_id"]
    await gw.ok("POST", "/team/member_add", json={"team_id": ids["A1"],
                                                  "member": {"user_id": "lead-a1",
                                                             "role": "admin"}})
    for team in ("A1", "B1"):
        created = await gw.ok("POST", "/key/generate", json={"team_id": ids[team]})
        ids[f"key:team-{team}"], ids[f"id:team-{team}"] = created["key"], created["token_id"]
    return ids


def _cases(ids: dict[str, str]) -> list[Case]:
    a1, a2, b1 = ids["A1"], ids["A2"], ids["B1"]
    org_a, org_b = ids["orgA"], ids["orgB"]
    dev_a1_key, dev_b1_key, spare = ids["id:dev-a1"], ids["id:dev-b1"], ids["id:dev-a1-spare"]
    get, post = "GET", "POST"
    return [
        # teams: read
        *[(who, get, "/team/info", {"team_id": b1}, ok) for who, ok in (
            ("root", True), ("auditor", True), ("boss-a", False), ("lead-a1", False),
            ("dev-a1", False), ("team-A1", False), ("dev-b1", True))],
        *[(who, get, "/team/info", {"team_id": a1}, ok) for who, ok in (
            ("boss-a", True), ("lead-a1", True), ("dev-a1", True), ("watcher-a1", True),
            ("dev-b1", False), ("team-A1", False))],
        # teams: change settings (org admin and up) and members (team admin and up)
        *[(who, post, "/team/update", {"team_id": a2, "team_alias": f"by-{who}"}, ok)
          for who, ok in (("root", True), ("boss-a", True), ("auditor", False),
                          ("lead-a1", False), ("dev-a1", False), ("dev-b1", False))],
        ("lead-a1", post, "/team/update", {"team_id": a1, "max_budget": 1000}, False),
        ("boss-a", post, "/team/update", {"team_id": b1, "team_alias": "x"}, False),
        ("boss-a", post, "/team/update", {"team_id": a1, "organization_id": org_b}, False),
        ("lead-a1", post, "/team/member_add", {"team_id": a1, "member": {"user_id": "dev-b1"}},
         True),
        ("lead-a1", post, "/team/member_delete", {"team_id": a1, "user_ids": ["dev-b1"]}, True),
        ("lead-a1", post, "/team/member_add", {"team_id": b1, "member": {"user_id": "dev-a1"}},
         False),
        ("dev-a1", post, "/team/member_add", {"team_id": a1, "member": {"user_id": "dev-b1"}},
         False),
        ("watcher-a1", post, "/team/member_delete", {"team_id": a1, "user_ids": ["dev-a1"]},
         False),
        ("boss-a", post, "/team/block", {"team_id": b1}, False),
        ("lead-a1", post, "/team/block", {"team_id": a1}, False),
        ("boss-a", post, "/team/new", {"organization_id": org_b}, False),
        ("boss-a", post, "/team/new", {"organization_id": org_a, "team_alias": "A3"}, True),
        ("lead-a1", post, "/team/new", {"organization_id": org_a}, False),
        # keys: read
        *[(who, get, "/key/info", {"key": dev_b1_key}, ok) for who, ok in (
            ("root", True), ("auditor", True), ("dev-b1", True), ("team-B1", False),
            ("dev-a1", False), ("lead-a1", False), ("boss-a", False), ("team-A1", False))],
        *[(who, get, "/key/info", {"key": dev_a1_key}, ok) for who, ok in (
            ("dev-a1", True), ("lead-a1", True), ("boss-a", True), ("watcher-a1", False),
            ("team-A1", False), ("dev-b1", False))],
        # keys: create
        ("lead-a1", post, "/key/generate", {"team_id": a1}, True),
        ("lead-a1", post, "/key/generate", {"team_id": b1}, False),
        ("dev-a1", post, "/key/generate", {"key_alias": "mine"}, True),
        ("dev-a1", post, "/key/generate", {"team_id": a1}, True),
        ("dev-a1", post, "/key/generate", {"user_id": "dev-b1"}, False),
        ("dev-a1", post, "/key/generate", {"team_id": a2}, False),
        ("watcher-a1", post, "/key/generate", {}, False),
        ("team-A1", post, "/key/generate", {}, False),
        ("auditor", post, "/key/generate", {}, False),
        ("boss-a", post, "/key/generate", {"key_type": "management"}, False),
        ("boss-a", post, "/key/generate", {"team_id": a2}, True),
        # keys: change
        ("dev-a1", post, "/key/update", {"key": dev_a1_key, "key_alias": "renamed"}, True),
        ("dev-a1", post, "/key/update", {"key": dev_a1_key, "max_budget": 10**6}, False),
        ("dev-a1", post, "/key/update", {"key": dev_a1_key, "models": ["*"]}, False),
        ("lead-a1", post, "/key/update", {"key": dev_a1_key, "rpm_limit": 5}, True),
        ("lead-a1", post, "/key/update", {"key": dev_a1_key, "team_id": b1}, False),
        ("dev-b1", post, "/key/update", {"key": dev_a1_key, "key_alias": "mine"}, False),
        ("dev-a1", post, "/key/block", {"key": spare}, True),
        ("dev-a1", post, "/key/unblock", {"key": spare}, False),
        ("lead-a1", post, "/key/unblock", {"key": spare}, True),
        ("dev-b1", post, "/key/block", {"key": spare}, False),
        ("dev-a1", post, "/key/delete", {"keys": [spare]}, True),
        ("team-A1", post, "/key/block", {"key": ids["id:team-A1"]}, False),
        ("dev-b1", post, "/key/regenerate", {"key": dev_a1_key}, False),
        ("boss-a", post, "/key/delete", {"keys": [dev_b1_key]}, False),
        # users
        ("boss-a", get, "/user/info", {"user_id": "dev-b1"}, False),
        ("boss-a", get, "/user/info", {"user_id": "dev-a1"}, True),
        ("lead-a1", get, "/user/info", {"user_id": "dev-a1"}, True),
        ("dev-a1", get, "/user/info", {"user_id": "lead-a1"}, False),
        ("dev-a1", get, "/user/info", {"user_id": "dev-a1"}, True),
        ("team-A1", get, "/user/info", {"user_id": "dev-a1"}, False),
        ("boss-a", post, "/user/new", {"organization_id": org_a}, True),
        ("boss-a", post, "/user/new", {"organization_id": org_a, "user_role": "proxy_admin"},
         False),
        ("boss-a", post, "/user/new", {"organization_id": org_b}, False),
        ("lead-a1", post, "/user/new", {"team_id": a1}, True),
        ("lead-a1", post, "/user/new", {"team_id": b1}, False),
        ("dev-a1", post, "/user/new", {"team_id": a1}, False),
        ("boss-a", post, "/user/update", {"user_id": "dev-a1", "user_role": "proxy_admin"},
         False),
        ("boss-a", post, "/user/update", {"user_id": "dev-a1", "rpm_limit": 7}, True),
        ("dev-a1", post, "/user/update", {"user_id": "dev-a1", "user_alias": "me"}, True),
        ("dev-a1", post, "/user/update", {"user_id": "dev-a1", "user_role": "org_admin"}, False),
        ("dev-a1", post, "/user/update", {"user_id": "dev-a1", "max_budget": 100}, False),
        ("boss-a", post, "/user/delete", {"user_ids": ["dev-b1"]}, False),
        # organizations
        ("boss-a", get, "/organization/info", {"organization_id": org_a}, True),
        ("boss-a", get, "/organization/info", {"organization_id": org_b}, False),
        ("dev-a1", get, "/organization/info", {"organization_id": org_a}, True),
        ("dev-b1", get, "/organization/info", {"organization_id": org_a}, False),
        ("boss-a", post, "/organization/new", {"organization_alias": "C"}, False),
        ("auditor", post, "/organization/new", {"organization_alias": "C"}, False),
        ("root", post, "/organization/new", {"organization_alias": "C"}, True),
        ("boss-a", "PATCH", "/organization/update", {"organization_id": org_a,
                                                     "max_budget": 10**6}, False),
        ("boss-a", post, "/organization/member_add", {"organization_id": org_a,
                                                      "member": {"user_id": "dev-a1"}}, True),
        ("boss-a", post, "/organization/member_add", {"organization_id": org_b,
                                                      "member": {"user_id": "dev-a1"}}, False),
        ("dev-a1", post, "/organization/member_add", {"organization_id": org_a,
                                                      "member": {"user_id": "dev-b1"}}, False),
        # end users and spend: proxy admins only
        ("root", post, "/end_user/new", {"user_id": "customer-1"}, True),
        ("boss-a", post, "/end_user/new", {"user_id": "customer-2"}, False),
        ("auditor", get, "/end_user/info", {"user_id": "customer-1"}, True),
        ("dev-a1", get, "/end_user/info", {"user_id": "customer-1"}, False),
        *[(who, get, "/spend/keys", None, ok) for who, ok in (
            ("root", True), ("dev-a1", False), ("team-A1", False), ("boss-a", False),
            ("lead-a1", False))],
    ]


async def _run(gw: Gateway, ids: dict[str, str], case: Case) -> tuple[int, Any]:
    who, method, path, data, _ = case
    key = MASTER if who == "master" else ids[f"key:{who}"]
    if method == "GET":
        return await gw.call(method, path, key, params=data)
    return await gw.call(method, path, key, json=data)


async def test_roles_by_endpoint(gateway: Gateway) -> None:
    ids = await _world(gateway)
    wrong = []
    for case in _cases(ids):
        status, body = await _run(gateway, ids, case)
        allowed = case[4]
        if (allowed and status != 200) or (not allowed and status not in (403, 404)):
            wrong.append((case[:4], status, body))
        if not allowed and body is not None:
            assert set(body) == {"error"}, (case, body)
    if wrong:  # NOTE: pytest.fail, not assert: pytest's diff of a long message is very slow
        pytest.fail("\n".join(map(str, wrong)))


async def test_every_caller_lists_only_its_own_tenancy(gateway: Gateway) -> None:
    ids = await _world(gateway)
    all_keys = {ids[name] for name in ids if name.startswith("id:")}

    async def listed(who: str, path: str, field: str) -> set[str]:
        body = await gateway.ok("GET", path, ids[f"key:{who}"], params={"limit": "1000"})
        return {item[field] for item in body["data"]}

    def key_ids(*names: str) -> set[str]:
        return {ids[f"id:{name}"] for name in names}

    assert await listed("root", "/key/list", "token_id") >= all_keys
    assert await listed("auditor", "/key/list", "token_id") >= all_keys
    assert await listed("boss-a", "/key/list", "token_id") == key_ids(
        "boss-a", "lead-a1", "dev-a1", "dev-a1-spare", "watcher-a1", "team-A1")
    assert await listed("lead-a1", "/key/list", "token_id") == key_ids(
        "lead-a1", "dev-a1", "dev-a1-spare", "watcher-a1", "team-A1")
    assert await listed("dev-a1", "/key/list", "token_id") == key_ids("dev-a1", "dev-a1-spare")
    assert await listed("team-B1", "/key/list", "token_id") == key_ids("team-B1")
    assert await listed("dev-b1", "/key/list", "token_id") == key_ids("dev-b1")
    assert await listed("dev-a1", "/team/list", "team_id") == {ids["A1"]}
    assert await listed("boss-a", "/team/list", "team_id") == {ids["A1"], ids["A2"]}
    assert await listed("dev-b1", "/organization/list", "organization_id") == {ids["orgB"]}
    assert await listed("boss-a", "/user/list", "user_id") == {
        "boss-a", "lead-a1", "dev-a1", "watcher-a1"}
    assert await listed("team-A1", "/user/list", "user_id") == set()

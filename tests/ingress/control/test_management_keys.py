"""``/key/*`` end to end in process: every change works on the hot path at once and is an admin
event with the key before and after; no raw key ever reaches an event."""

from __future__ import annotations

from typing import Any

from schemas.events import KeyChange, KeyCreated, encode_envelope
from tests.ingress.control.conftest import MASTER, Gateway

FULL_KEY = {
    "key_alias": "billing-bot", "models": ["mock-gpt", "mock-mini"], "max_budget": 12.5,
    "soft_budget": 10, "budget_duration": "30d", "tpm_limit": 1000, "rpm_limit": 60,
    "max_parallel_requests": 4, "model_max_budget": {"mock-gpt": 2.25},
    "model_tpm_limit": {"mock-gpt": 500}, "model_rpm_limit": {"mock-gpt": 30},
    "metadata": {"owner": "billing", "tier": 2}, "duration": "7d",
}


async def test_generate_stores_and_returns_every_field(gateway: Gateway) -> None:
    created = await gateway.ok("POST", "/key/generate", json=FULL_KEY)
    assert created["key"].startswith("sk-llmux-")
    assert created["key_prefix"] == created["key"][:13]
    for name, value in FULL_KEY.items():
        if name != "duration":
            assert created[name] == value, name
    assert created["expires"] is not None and created["blocked"] is False
    info = await gateway.ok("GET", "/key/info", params={"key": created["token_id"]})
    assert info == {"key": created["token_id"],
                    "info": {k: v for k, v in created.items() if k != "key"}}
    status, _ = await gateway.chat(created["key"])
    assert status == 200
    status, body = await gateway.chat(created["key"], model="mock-large")
    assert status == 403 and body["error"]["code"] == "model_not_allowed"


async def test_every_key_change_is_an_event_with_before_and_after(gateway: Gateway) -> None:
    created = await gateway.ok("POST", "/key/generate", json=FULL_KEY)
    raw, key_id = created["key"], created["token_id"]
    updated = await gateway.ok("POST", "/key/update", json={
        "key": key_id, "max_budget": 20, "models": ["mock-large"], "metadata": {"tier": None}})
    assert updated["max_budget"] == 20 and updated["metadata"] == {"owner": "billing"}
    assert (await gateway.chat(raw, model="mock-large"))[0] == 200

    await gateway.ok("POST", "/key/block", json={"key": key_id})
    status, body = await gateway.chat(raw, model="mock-large")
    assert status == 401 and body["error"]["code"] == "key_blocked"
    await gateway.ok("POST", "/key/unblock", json={"key": key_id})
    assert (await gateway.chat(raw, model="mock-large"))[0] == 200

    rotated = await gateway.ok("POST", "/key/regenerate", json={"key": key_id})
    assert rotated["token_id"] == key_id and rotated["rotation_count"] == 1
    assert (await gateway.chat(raw, model="mock-large"))[0] == 401
    assert (await gateway.chat(rotated["key"], model="mock-large"))[0] == 200

    deleted = await gateway.ok("DELETE", "/key/delete", json={"keys": [key_id]})
    assert deleted == {"deleted_keys": [key_id]}
    assert (await gateway.chat(rotated["key"], model="mock-large"))[0] == 401
    assert (await gateway.call("GET", "/key/info", params={"key": key_id}))[0] == 404

    events = await gateway.admin_events(6)
    assert [e.type for e, _ in events] == [
        "admin.key.created", "admin.key.updated", "admin.key.blocked", "admin.key.unblocked",
        "admin.key.regenerated", "admin.key.deleted"]
    assert [p.after.revision for _, p in events[1:-1] if isinstance(p, KeyChange) and p.after
            ] == [1, 2, 3, 4]
    changes = [(e, p) for e, p in events if p.__class__ is not KeyCreated]
    by_type = {e.type: p for e, p in changes}
    update = by_type["admin.key.updated"]
    assert isinstance(update, KeyChange) and update.before and update.after
    assert update.before.limits.max_budget_micros == 12_500_000
    assert update.after.limits.max_budget_micros == 20_000_000
    assert update.before.models == ["mock-gpt", "mock-mini"]
    assert update.after.models == ["mock-large"]
    blocked = by_type["admin.key.blocked"]
    assert isinstance(blocked, KeyChange) and blocked.after and blocked.after.blocked
    assert blocked.before and not blocked.before.blocked
    regenerated = by_type["admin.key.regenerated"]
    assert isinstance(regenerated, KeyChange) and regenerated.before and regenerated.after
    assert regenerated.before.key_hash != regenerated.after.key_hash
    deletion = by_type["admin.key.deleted"]
    assert isinstance(deletion, KeyChange) and deletion.after is None and deletion.before
    for envelope, payload in events:
        assert envelope.actor == "admin"
        assert envelope.request_id and envelope.request_id.startswith("req-/key/")
        assert payload.source_ip == "127.0.0.1"
        data = encode_envelope(envelope)
        assert raw.encode() not in data and rotated["key"].encode() not in data
        assert MASTER.encode() not in data


async def test_listing_filters_and_pages(gateway: Gateway) -> None:
    ids = []
    for index in range(5):
        created = await gateway.ok("POST", "/key/generate",
                                   json={"key_alias": f"k{index % 2}", "metadata": {"i": index}})
        ids.append(created["token_id"])
    listed = await gateway.ok("GET", "/key/list", params={"key_alias": "k1"})
    assert listed["total"] == 2 and {k["metadata"]["i"] for k in listed["data"]} == {1, 3}
    paged = await gateway.ok("GET", "/key/list", params={"limit": "2", "offset": "1"})
    assert len(paged["data"]) == 2 and paged["total"] == 5
    assert paged["keys"] == [item["token_id"] for item in paged["data"]]
    assert all("key_hash" not in item and "key" not in item for item in paged["data"])


async def test_a_key_reads_itself_without_naming_it(gateway: Gateway) -> None:
    created = await gateway.ok("POST", "/key/generate", json={"key_alias": "self"})
    info = await gateway.ok("GET", "/key/info", created["key"])
    assert info["key"] == created["token_id"] and info["info"]["key_alias"] == "self"
    by_raw = await gateway.ok("GET", "/key/info", params={"key": created["key"]})
    assert by_raw["key"] == created["token_id"]


async def _error(gateway: Gateway, method: str, path: str, body: Any = None,
                 params: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    status, response = await gateway.call(method, path, json=body, params=params)
    return status, response["error"]


async def test_invalid_input_is_a_400_naming_the_field(gateway: Gateway) -> None:
    team = await gateway.ok("POST", "/team/new", json={"team_alias": "t"})
    cases: list[tuple[str, str, Any, dict[str, str] | None, str]] = [
        ("POST", "/key/generate", {"max_budget": "a lot"}, None, "max_budget"),
        ("POST", "/key/generate", {"max_budget": -1}, None, "max_budget"),
        ("POST", "/key/generate", {"tpm_limit": -5}, None, "tpm_limit"),
        ("POST", "/key/generate", {"rpm_limit": 1.5}, None, "rpm_limit"),
        ("POST", "/key/generate", {"models": "mock-gpt"}, None, "models"),
        ("POST", "/key/generate", {"budget_duration": "fortnightly"}, None, "budget_duration"),
        ("POST", "/key/generate", {"duration": "forever"}, None, "duration"),
        ("POST", "/key/generate", {"team_id": "no-such-team"}, None, "team_id"),
        ("POST", "/key/generate", {"user_id": "no-such-user"}, None, "user_id"),
        ("POST", "/key/generate", {"model_max_budget": {"m": {"budget_limit": 1,
                                                               "time_period": "x"}}},
         None, "model_max_budget.m.time_period"),
        ("POST", "/key/generate", {"key_type": "superuser"}, None, "key_type"),
        ("POST", "/key/update", {"max_budget": 5}, None, "key"),
        ("POST", "/key/delete", {}, None, "keys"),
        ("POST", "/user/new", {"user_role": "god"}, None, "user_role"),
        ("POST", "/team/member_add", {"team_id": team["team_id"],
                                      "members": [{"user_id": "ghost"}]}, None,
         "members[0].user_id"),
        ("POST", "/team/new", {"organization_id": "nope"}, None, "organization_id"),
        ("GET", "/key/list", None, {"limit": "many"}, "limit"),
        ("GET", "/team/info", None, None, "team_id"),
    ]
    for method, path, body, params, field in cases:
        status, error = await _error(gateway, method, path, body, params)
        assert (status, error["type"], error["param"]) == (400, "invalid_request_error", field), (
            path, body, error)
    status, error = await _error(gateway, "POST", "/key/generate", None)
    assert status == 400 and error["type"] == "invalid_request_error"

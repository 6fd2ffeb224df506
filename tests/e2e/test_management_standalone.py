"""The management API of a standalone ``llmux serve`` with ``server.admin_port``: served there and
only there, durable across a restart, and no raw key in any file the gateway writes."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger import open_ledger
from schemas.events import AdminChange, decode_payload
from tests.e2e.processes import LLMuxProcess, free_port, gateway, write_config

MASTER = "sk-master-management-standalone"
ADMIN = {"authorization": f"Bearer {MASTER}"}


def _config(tmp_path: Path, admin_port: int) -> Path:
    return write_config(tmp_path / "llmux.yaml", {
        "server": {"admin_port": admin_port},
        "deployment": {"mode": "standalone", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER},
        "logging": {"level": "debug"},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt", "mock-mini"]}],
    })


def _chat(base_url: str, key: str, model: str = "mock-gpt") -> int:
    response = httpx.post(f"{base_url}/v1/chat/completions", timeout=10,
                          headers={"authorization": f"Bearer {key}"},
                          json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    return response.status_code


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json=body, headers=ADMIN, timeout=10)


def test_admin_port_serves_management_durably_and_keeps_no_raw_key(tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    main, admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
    config = _config(tmp_path, admin_port)
    with gateway(config, port, tmp_path / "first.log"):
        assert _post(f"{main}/key/generate", {}).status_code == 404
        assert httpx.get(f"{admin}/health/live", timeout=5).status_code == 200
        assert _chat(admin, MASTER) == 404  # the admin port serves no model traffic
        org = _post(f"{admin}/organization/new", {"organization_alias": "acme",
                                                  "models": ["mock-gpt"]}).json()
        team = _post(f"{admin}/team/new", {"organization_id": org["organization_id"]}).json()
        kept = _post(f"{admin}/key/generate", {"team_id": team["team_id"]}).json()
        blocked = _post(f"{admin}/key/generate", {"max_budget": 5}).json()
        assert _chat(main, kept["key"]) == 200
        assert _chat(main, kept["key"], "mock-mini") == 403  # the org allows mock-gpt only
        models = httpx.get(f"{main}/v1/models", timeout=5,
                           headers={"authorization": f"Bearer {kept['key']}"}).json()
        assert [model["id"] for model in models["data"]] == ["mock-gpt"]
        assert _post(f"{admin}/key/block", {"key": blocked["token_id"]}).status_code == 200
        assert _chat(main, blocked["key"]) == 401
        unauthenticated = httpx.get(f"{admin}/key/list", timeout=5)
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"]["type"] == "authentication_error"

    with gateway(config, port, tmp_path / "second.log"):
        assert _chat(main, kept["key"]) == 200
        assert _chat(main, blocked["key"]) == 401
        listed = httpx.get(f"{admin}/key/list", headers=ADMIN, timeout=5).json()
        assert {item["token_id"] for item in listed["data"]} == {kept["token_id"],
                                                                 blocked["token_id"]}

    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "llmux.yaml"]
    assert any(p.name == "ledger.db" for p in files) and any(p.suffix == ".log" for p in files)
    for secret in (kept["key"], blocked["key"], MASTER):
        for path in files:
            assert secret.encode() not in path.read_bytes(), path


def test_a_busy_admin_port_is_a_startup_error_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        admin_port = taken.getsockname()[1]
        config = _config(tmp_path, admin_port)
        process = LLMuxProcess(["serve", "--config", str(config), "--port", str(free_port())],
                               tmp_path / "serve.log").start()
        assert process.proc is not None
        assert process.proc.wait(60) != 0
    assert f"cannot listen on admin port {admin_port}" in process.output()


@pytest.mark.parametrize(("trusted", "recorded"), [([], "127.0.0.1"),
                                                   (["127.0.0.1"], "203.0.113.7")])
def test_forwarded_for_counts_only_from_trusted_proxies(
        tmp_path: Path, trusted: list[str], recorded: str) -> None:
    port = free_port()
    config = write_config(tmp_path / "llmux.yaml", {
        "server": {"trusted_proxies": trusted},
        "deployment": {"mode": "standalone", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"]}],
    })
    with gateway(config, port, tmp_path / "gateway.log"):
        created = httpx.post(f"http://127.0.0.1:{port}/key/generate", json={}, timeout=10,
                             headers={**ADMIN, "x-forwarded-for": "203.0.113.7"})
        assert created.status_code == 200
    app = open_ledger(sqlite_path=str(tmp_path / "data" / "ledger.db"))
    try:
        payloads = [decode_payload(e) for _, e in app.read_envelopes(1, 1_000)
                    if e.type == "admin.key.created"]
    finally:
        app.close()
    assert len(payloads) == 1 and isinstance(payloads[0], AdminChange)
    assert payloads[0].source_ip == recorded

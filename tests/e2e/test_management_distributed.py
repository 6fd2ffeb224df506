"""The control plane in distributed mode, on the real NATS and Postgres: two ``llmux serve``
instances, ``llmux ledger`` and ``llmux projector``.

A change made on either instance is in force on both within a second (new, blocked, unblocked,
regenerated and deleted keys, blocked teams); a restarted instance rebuilds the same state; every
change is an admin event with before and after values in the event store; and no raw key is in
Postgres, in the JetStream stream, or in any process's log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
import pytest

from ledger import open_ledger
from schemas.events import AdminChange, decode_payload
from tests.e2e.processes import LLMuxProcess, free_port, gateway, wait_until, write_config

MASTER = "sk-master-management-distributed"
ADMIN = {"authorization": f"Bearer {MASTER}"}
PROPAGATION_S = 1.0
"""The contract: a change made on one instance is in force on every instance within a second."""


def _config(tmp_path: Path, namespace: str, database_url: str, nats_url: str) -> Path:
    return write_config(tmp_path / "llmux.yaml", {
        "deployment": {"mode": "distributed", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER, "hash_secret": "management-hash-secret"},
        "nats": {"url": nats_url, "stream": namespace.upper(), "subject_prefix": namespace},
        "database": {"url": database_url},
        "logging": {"level": "debug"},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"]}],
    })


@contextlib.contextmanager
def _cluster(tmp_path: Path, config: Path) -> Iterator[list[str]]:
    workers = [LLMuxProcess([name, "--config", str(config)], tmp_path / f"{name}.log").start()
               for name in ("ledger", "projector")]
    ports = [free_port(), free_port()]
    try:
        with gateway(config, ports[0], tmp_path / "gateway-a.log"), \
                gateway(config, ports[1], tmp_path / "gateway-b.log"):
            yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for worker in workers:
            worker.stop()


def _admin(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{base_url}{path}", json=body, headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _status(base_url: str, key: str) -> int:
    body = {"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=10,
                          headers={"authorization": f"Bearer {key}"})
    return response.status_code


def _everywhere(bases: list[str], key: str, status: int) -> None:
    """Within the propagation bound, ``key`` gets ``status`` on every instance."""
    wait_until(lambda: all(_status(base, key) == status for base in bases),
               timeout_s=PROPAGATION_S, interval_s=0.02)


def _raw_values_in_postgres(database_url: str) -> list[bytes]:
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_type = 'BASE TABLE'").fetchall()
        assert any(name == "control_keys" for _, name in tables)
        found: list[bytes] = []
        for schema, name in tables:
            for row in conn.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall():
                found.extend(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                             for v in row)
        return found


async def _stream_messages(nats_url: str, stream: str) -> list[bytes]:
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        info = await js.stream_info(stream)
        return [(await js.get_msg(stream, seq)).data or b""
                for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await connection.close()


@pytest.mark.services
def test_changes_reach_both_instances_and_no_raw_key_is_kept(
        tmp_path: Path, namespace: str, postgres_database: str, nats_url: str) -> None:
    config = _config(tmp_path, namespace, postgres_database, nats_url)
    raw_keys: list[str] = [MASTER]
    with _cluster(tmp_path, config) as (a, b):
        team = _admin(b, "/team/new", {"team_alias": "support"})
        created = _admin(a, "/key/generate", {"key_alias": "bot", "team_id": team["team_id"]})
        key, key_id = created["key"], created["token_id"]
        raw_keys.append(key)
        _everywhere([a, b], key, 200)  # created on A, works on B

        _admin(a, "/key/block", {"key": key_id})
        _everywhere([a, b], key, 401)
        _admin(b, "/key/unblock", {"key": key_id})
        _everywhere([a, b], key, 200)

        _admin(b, "/team/block", {"team_id": team["team_id"]})
        _everywhere([a, b], key, 403)
        _admin(a, "/team/unblock", {"team_id": team["team_id"]})
        _everywhere([a, b], key, 200)

        rotated = _admin(a, "/key/regenerate", {"key": key_id})["key"]
        raw_keys.append(rotated)
        _everywhere([a, b], key, 401)
        _everywhere([a, b], rotated, 200)

        other = _admin(b, "/key/generate", {"key_alias": "to-delete"})
        raw_keys.append(other["key"])
        _everywhere([a, b], other["key"], 200)
        _admin(a, "/key/delete", {"keys": [other["token_id"]]})
        _everywhere([a, b], other["key"], 401)

        info = httpx.get(f"{b}/key/info", params={"key": key_id}, headers=ADMIN, timeout=10)
        assert info.json()["info"]["rotation_count"] == 1

    with _cluster(tmp_path, config) as (a, b):  # restarted: the same state, rebuilt
        assert _status(a, rotated) == 200 and _status(b, rotated) == 200
        assert _status(a, key) == 401 and _status(b, other["key"]) == 401

    _assert_audited(postgres_database)
    stored = _raw_values_in_postgres(postgres_database)
    stream = asyncio.run(_stream_messages(nats_url, namespace.upper()))
    logs = [path.read_bytes() for path in tmp_path.glob("*.log")]
    assert any(b"admin.key.regenerated" in message for message in stream)
    for secret in raw_keys:
        for blob in (*stored, *stream, *logs):
            assert secret.encode() not in blob


def _assert_audited(database_url: str) -> None:
    app = open_ledger(postgres_url=database_url)
    try:
        envelopes = [envelope for _, envelope in app.read_envelopes(1, 100_000)]
    finally:
        app.close()
    changes = [(e, decode_payload(e)) for e in envelopes if e.type.startswith("admin.")]
    assert [e.type for e, _ in changes] == [
        "admin.team.created", "admin.key.created", "admin.key.blocked", "admin.key.unblocked",
        "admin.team.blocked", "admin.team.unblocked", "admin.key.regenerated",
        "admin.key.created", "admin.key.deleted"]
    for envelope, payload in changes:
        assert isinstance(payload, AdminChange)
        assert envelope.actor == "admin" and envelope.request_id
        assert payload.source_ip == "127.0.0.1"
        before, after = getattr(payload, "before", None), getattr(payload, "after", None)
        if envelope.type.endswith(("blocked", "unblocked", "regenerated")):
            assert before is not None and after is not None and before != after

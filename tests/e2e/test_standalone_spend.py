"""Standalone mode: spend after N requests, durability across a restart, rebuild equals live."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.processes import LLMuxProcess, free_port, gateway, wait_until, write_config
from tests.e2e.spend import Totals, create_key, send_requests, spend_rows, spend_totals

MASTER = "sk-master-standalone"
N = 12


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"],
                       "mock": {"stream_chunks": 3}}],
    })


def test_spend_counts_every_request_and_survives_restart(config_path: Path, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    sent = Totals()
    with gateway(config_path, port, tmp_path / "gateway.log") as process:
        key, key_id = create_key(base_url, MASTER, key_alias="app")
        send_requests(base_url, key, N, sent)
        live = wait_until(lambda: _rows_when(base_url, key_id, N))
        assert spend_totals(live, key_id) == sent
        # The ledger's writer yields the core to the requests (its polite thread,
        # ledger.background); the event loop's thread stays an ordinary one.
        assert process.proc is not None
        policies = _thread_policies(process.proc.pid)
        assert policies[process.proc.pid] == os.SCHED_OTHER
        assert list(policies.values()).count(os.SCHED_IDLE) == 1
        # Everything published is recorded: the local bus has no backlog left for the ledger.
        assert wait_until(lambda: "\nllmux_bus_backlog_events 0.0\n"
                          in httpx.get(f"{base_url}/metrics", timeout=10).text)

    with gateway(config_path, port, tmp_path / "gateway2.log"):
        assert spend_totals(spend_rows(base_url, MASTER), key_id) == sent  # durable
        send_requests(base_url, key, 2, sent)  # the key survived the restart too
        live = wait_until(lambda: _rows_when(base_url, key_id, N + 2))
        assert spend_totals(live, key_id) == sent

    rebuild = LLMuxProcess(["projections", "rebuild", "spend", "--config", str(config_path)],
                           tmp_path / "rebuild.log").start()
    assert rebuild.proc is not None and rebuild.proc.wait(60) == 0, rebuild.output()
    with gateway(config_path, port, tmp_path / "gateway3.log"):
        assert spend_rows(base_url, MASTER) == live  # row for row


def test_requests_sharing_a_client_request_id_are_all_counted(
        config_path: Path, tmp_path: Path) -> None:
    """``x-request-id`` is the client's to choose, so it cannot be what makes an event unique.

    Clients reuse it (a retry after a timeout, a constant set by a proxy, or on purpose): if the
    event ids were derived from it, the ledger would store the second request's usage as a
    duplicate of the first, and its spend would never be counted.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with gateway(config_path, port, tmp_path / "gateway.log"):
        key, key_id = create_key(base_url, MASTER, key_alias="reused-request-id")
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0,
                               default_headers={"x-request-id": "the-same-id"})
        sent = Totals()
        for text in ("first call", "second call, a little longer", "third"):
            reply = client.chat.completions.with_raw_response.create(
                model="mock-gpt", messages=[{"role": "user", "content": text}])
            assert reply.headers["x-request-id"] == "the-same-id"
            sent.add(reply.parse().usage)
        live = wait_until(lambda: _rows_when(base_url, key_id, 3))
        assert spend_totals(live, key_id) == sent


def _thread_policies(pid: int) -> dict[int, int]:
    """Each thread's scheduling policy, by thread id (``/proc``: field 41 of ``stat``)."""
    policies = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        policies[int(task.name)] = int(fields[38])  # fields from the 3rd on: 41 - 3
    return policies


def _rows_when(base_url: str, key_id: str, requests: int) -> list[dict[str, object]] | None:
    rows = spend_rows(base_url, MASTER)
    return rows if spend_totals(rows, key_id).requests == requests else None

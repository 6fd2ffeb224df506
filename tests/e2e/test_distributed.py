"""Distributed mode on the real NATS and Postgres: separate gateway, ledger and projector processes.

Each test gets its own Postgres database and its own JetStream stream and subject prefix. Fault
tests kill the ledger with SIGKILL, or run their own nats-server and stop it, while requests flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.processes import LLMuxProcess, free_port, gateway, wait_until, write_config
from tests.e2e.spend import Totals, create_key, send_requests, spend_rows, spend_totals

MASTER = "sk-master-distributed"


def _config(tmp_path: Path, namespace: str, database_url: str, nats_url: str,
            **sections: Any) -> Path:
    """The test's config; each of ``sections`` is merged into the section of that name."""
    tree = _base_config(tmp_path, namespace, database_url, nats_url)
    for name, section in sections.items():
        tree[name] = tree.get(name, {}) | section
    return write_config(tmp_path / "llmux.yaml", tree)


def _base_config(tmp_path: Path, namespace: str, database_url: str, nats_url: str
                 ) -> dict[str, Any]:
    return {
        "deployment": {"mode": "distributed", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER, "hash_secret": "test-hash-secret"},
        # NOTE: a short ack wait, so what a SIGKILLed ledger had fetched is redelivered quickly.
        "nats": {"url": nats_url, "stream": namespace.upper(), "subject_prefix": namespace,
                 "ack_wait": "3s"},
        "database": {"url": database_url},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"],
                       "mock": {"stream_chunks": 3}}],
    }


def _start(tmp_path: Path, config: Path, name: str) -> LLMuxProcess:
    return LLMuxProcess([name, "--config", str(config)], tmp_path / f"{name}.log").start()


@contextlib.contextmanager
def _workers(tmp_path: Path, config: Path) -> Iterator[dict[str, LLMuxProcess]]:
    processes = {name: _start(tmp_path, config, name) for name in ("ledger", "projector")}
    try:
        yield processes
    finally:
        for process in processes.values():
            process.stop()


def _wait_for_spend(base_url: str, key_id: str, sent: Totals, timeout_s: float = 30) -> None:
    def matches() -> list[dict[str, Any]] | None:
        rows = spend_rows(base_url, MASTER)
        return rows if spend_totals(rows, key_id).requests >= sent.requests else None

    rows = wait_until(matches, timeout_s=timeout_s)
    assert spend_totals(rows, key_id) == sent


def test_spend_through_nats_and_postgres(tmp_path: Path, namespace: str, postgres_database: str,
                                         nats_url: str) -> None:
    config = _config(tmp_path, namespace, postgres_database, nats_url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with _workers(tmp_path, config), gateway(config, port, tmp_path / "gateway.log"):
        key, key_id = create_key(base_url, MASTER)
        sent = Totals()
        send_requests(base_url, key, 10, sent)
        _wait_for_spend(base_url, key_id, sent)
        live = spend_rows(base_url, MASTER)

    rebuild = LLMuxProcess(["projections", "rebuild", "spend", "--config", str(config)],
                           tmp_path / "rebuild.log").start()
    assert rebuild.proc is not None and rebuild.proc.wait(60) == 0, rebuild.output()
    with gateway(config, port, tmp_path / "gateway2.log"):
        assert spend_rows(base_url, MASTER) == live  # a rebuilt projection equals the live one


def test_ledger_sigkill_loses_and_duplicates_nothing(tmp_path: Path, namespace: str,
                                                     postgres_database: str, nats_url: str) -> None:
    config = _config(tmp_path, namespace, postgres_database, nats_url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with _workers(tmp_path, config) as workers, gateway(config, port, tmp_path / "gw.log"):
        key, key_id = create_key(base_url, MASTER)
        sent = Totals()
        send_requests(base_url, key, 6, sent)
        workers["ledger"].kill()
        send_requests(base_url, key, 6, sent)  # requests keep flowing while the ledger is dead
        workers["ledger"] = _start(tmp_path, config, "ledger")
        send_requests(base_url, key, 6, sent)
        _wait_for_spend(base_url, key_id, sent)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A nats-server of this test's own, so it can be stopped without touching the shared one."""
    port = free_port()
    store = tmp_path / "nats-store"
    args = ["/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    state: dict[str, Any] = {"url": f"nats://127.0.0.1:{port}", "args": args}
    state["process"] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield state
    state["process"].kill()
    state["process"].wait(10)


def test_nats_outage_loses_no_event(tmp_path: Path, namespace: str, postgres_database: str,
                                    own_nats: dict[str, Any]) -> None:
    config = _config(tmp_path, namespace, postgres_database, own_nats["url"])
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with _workers(tmp_path, config), gateway(config, port, tmp_path / "gw.log"):
        key, key_id = create_key(base_url, MASTER)
        sent = Totals()
        send_requests(base_url, key, 5, sent)
        own_nats["process"].terminate()
        own_nats["process"].wait(10)
        send_requests(base_url, key, 8, sent)  # the gateway keeps answering; events spill
        own_nats["process"] = subprocess.Popen(own_nats["args"], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL)
        send_requests(base_url, key, 3, sent)
        _wait_for_spend(base_url, key_id, sent, timeout_s=60)


def test_a_gateway_started_after_the_events_expired_knows_every_key(
        tmp_path: Path, namespace: str, postgres_database: str, nats_url: str) -> None:
    """``nats.max_age`` bounds NATS's disk: admin events expire, the projections remember them."""
    config = _config(tmp_path, namespace, postgres_database, nats_url, nats={"max_age": "2s"})
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with _workers(tmp_path, config):
        with gateway(config, port, tmp_path / "gw.log"):
            key, key_id = create_key(base_url, MASTER)
            sent = Totals()
            send_requests(base_url, key, 3, sent)
            _wait_for_spend(base_url, key_id, sent)
        wait_until(lambda: _stored_messages(nats_url, namespace.upper()) == 0, timeout_s=30)
        with gateway(config, port, tmp_path / "gw2.log"):
            send_requests(base_url, key, 2, sent)  # the key, created before, still works
            _wait_for_spend(base_url, key_id, sent)


def _stored_messages(nats_url: str, stream: str) -> int:
    async def count() -> int:
        connection = await nats.connect(nats_url)
        try:
            return int((await connection.jetstream().stream_info(stream)).state.messages)
        finally:
            await connection.close()
    return asyncio.run(count())


def test_the_ledger_serves_its_health_and_how_far_behind_it_is(
        tmp_path: Path, namespace: str, postgres_database: str, own_nats: dict[str, Any]) -> None:
    """What an orchestrator probes and an operator graphs of ``llmux ledger`` (ledger.http_port)."""
    status_url = f"http://127.0.0.1:{free_port()}"
    config = _config(tmp_path, namespace, postgres_database, own_nats["url"],
                     ledger={"http_port": int(status_url.rsplit(":", 1)[1])})
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with gateway(config, port, tmp_path / "gw.log"):
        key, _ = create_key(base_url, MASTER)
        sent = Totals()
        send_requests(base_url, key, 4, sent)  # waiting on the bus before the ledger starts
        ledger = _start(tmp_path, config, "ledger")
        try:
            ledger.wait_http(f"{status_url}/health/ready")
            metrics = wait_until(lambda: _caught_up(status_url, sent.requests))
            assert metrics["llmux_ledger_position"] >= metrics["llmux_ledger_recorded_events_total"]
            assert metrics["llmux_ledger_waiting"] == 0

            own_nats["process"].terminate()
            own_nats["process"].wait(10)
            ready = wait_until(lambda: _not_ready(status_url))
            assert ready["checks"]["bus"] == "unavailable"
            assert ready["checks"]["database"] == "ok"
            assert "llmux_ledger_lag_events" not in _ledger_metrics(status_url)  # unknown now
            assert ledger.proc is not None and ledger.proc.poll() is None  # alive, waiting
            assert urllib.request.urlopen(f"{status_url}/health/live", timeout=5).status == 200
        finally:
            ledger.stop()


def test_the_projector_serves_its_health_and_each_projections_lag(
        tmp_path: Path, namespace: str, postgres_database: str, nats_url: str) -> None:
    status_port = free_port()
    config = _config(tmp_path, namespace, postgres_database, nats_url,
                     projector={"http_port": status_port})
    status_url = f"http://127.0.0.1:{status_port}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with _workers(tmp_path, config) as workers, gateway(config, port, tmp_path / "gw.log"):
        workers["projector"].wait_http(f"{status_url}/health/ready")
        key, key_id = create_key(base_url, MASTER)
        sent = Totals()
        send_requests(base_url, key, 5, sent)
        _wait_for_spend(base_url, key_id, sent)

        metrics = wait_until(lambda: _projections_current(status_url))
        ledger_position = metrics["llmux_ledger_position"]
        assert ledger_position >= sent.requests  # every request's events are in the ledger
        assert metrics[("llmux_projection_position", "spend")] == ledger_position
        assert metrics[("llmux_projection_waiting", "spend")] == 0
        with urllib.request.urlopen(f"{status_url}/health/ready", timeout=5) as response:
            ready = json.loads(response.read())
        assert ready["checks"]["projection:spend"] == "ok"
        assert ready["checks"]["database"] == "ok"


def _metric_samples(status_url: str) -> dict[Any, float]:
    """``name`` or ``(name, projection)`` → value, for LLMux's own samples."""
    with urllib.request.urlopen(f"{status_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(sample.name, sample.labels["projection"]) if "projection" in sample.labels
            else sample.name: sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name.startswith("llmux_")}


def _projections_current(status_url: str) -> dict[Any, float] | None:
    metrics = _metric_samples(status_url)
    lags = [value for name, value in metrics.items()
            if isinstance(name, tuple) and name[0] == "llmux_projection_lag_positions"]
    return metrics if lags and all(lag == 0 for lag in lags) else None


def _ledger_metrics(status_url: str) -> dict[str, float]:
    return {name: value for name, value in _metric_samples(status_url).items()
            if isinstance(name, str) and name.startswith("llmux_ledger_")}


def _caught_up(status_url: str, requests: int) -> dict[str, float] | None:
    """The ledger's metrics once it has recorded at least ``requests`` events and has no lag."""
    metrics = _ledger_metrics(status_url)
    if metrics.get("llmux_ledger_lag_events") != 0:
        return None
    return metrics if metrics["llmux_ledger_recorded_events_total"] >= requests else None


def _not_ready(status_url: str) -> dict[str, Any] | None:
    try:
        urllib.request.urlopen(f"{status_url}/health/ready", timeout=5)
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return dict(json.loads(exc.read()))
    return None

"""SIGTERM with a long stream in flight: the gateway exits within its grace and loses nothing."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import openai

from tests.e2e.processes import free_port, gateway, wait_until, write_config
from tests.e2e.spend import create_key, spend_rows, spend_totals

MASTER = "sk-master-shutdown"


def test_a_stream_longer_than_the_grace_is_cut_settled_and_recorded(tmp_path: Path) -> None:
    """A rolling restart must not wait for (or forget) a stream that would outlive the pod.

    The stream would run for two minutes; the grace is one second. Without the grace the process
    would still be serving it when ``stop`` gives up and kills it, and its usage would be lost.
    """
    config_path = write_config(tmp_path / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER},
        "server": {"shutdown_timeout": "1s"},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"],
                       "mock": {"stream_chunks": 8, "chunk_interval": "15s"}}],
    })
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with gateway(config_path, port, tmp_path / "gateway.log") as process:
        key, key_id = create_key(base_url, MASTER, key_alias="long-stream")
        received: list[Any] = []
        reader = threading.Thread(target=_read_stream, args=(base_url, key, received), daemon=True)
        reader.start()
        wait_until(lambda: len(received) >= 2)  # the role, then the first words
        assert process.proc is not None
        process.proc.send_signal(signal.SIGTERM)
        try:
            exit_code = process.proc.wait(30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the gateway kept serving the stream past its grace") from None
        # NOTE: uvicorn re-raises the signal it caught once it has shut down cleanly.
        assert exit_code in (0, -signal.SIGTERM), process.output()
        assert "Application shutdown complete" in process.output()
        # the cut is the configured behaviour: a warning, not a crash with a traceback
        assert "at the end of server.shutdown_timeout was cut" in process.output()
        assert "Traceback" not in process.output()
        reader.join(10)
        assert received[-1] == "cut", received[-3:]  # the client saw the stream end early

    with gateway(config_path, port, tmp_path / "gateway2.log"):
        totals = spend_totals(spend_rows(base_url, MASTER), key_id)
        assert totals.requests == 1
        assert totals.prompt_tokens > 0 and totals.completion_tokens > 0  # what was streamed


def _read_stream(base_url: str, key: str, received: list[Any]) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)
    try:
        for chunk in client.chat.completions.create(
                model="mock-gpt", stream=True, messages=[{"role": "user", "content": "go on"}]):
            received.append(chunk)
    except (openai.APIError, Exception):  # NOTE: httpx's RemoteProtocolError surfaces as-is
        pass
    received.append("cut")

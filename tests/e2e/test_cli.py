"""The ``llmux`` command line: config check and key creation against a running gateway."""

from __future__ import annotations

import json
from pathlib import Path

import openai

from tests.e2e.processes import LLMuxProcess, free_port, gateway, write_config

MASTER = "sk-master-cli"


def _run(args: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = LLMuxProcess(args, log, env).start()
    assert process.proc is not None
    return process.proc.wait(60), process.output()


def test_config_check_accepts_a_valid_file(tmp_path: Path) -> None:
    good = write_config(tmp_path / "good.yaml", {
        "providers": [{"name": "m", "type": "mock", "models": ["mock-gpt"]}]})
    code, output = _run(["config", "check", str(good)], tmp_path / "check.log")
    assert code == 0 and "OK" in output and "m (mock)" in output


def test_keys_create_makes_a_working_key(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(tmp_path / "data")},
        "server": {"port": port},
        "auth": {"master_key": MASTER},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt", "other"]}],
    })
    with gateway(config, port, tmp_path / "gateway.log") as process:
        code, output = _run(["keys", "create", "--config", str(config), "--alias", "cli",
                             "--models", "mock-gpt"], tmp_path / "keys.log")
        assert code == 0, output
        created = json.loads(output[output.index("{"):])
        assert created["key_alias"] == "cli" and created["models"] == ["mock-gpt"]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=created["key"],
                               max_retries=0)
        reply = client.chat.completions.create(model="mock-gpt",
                                               messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content
        assert created["key"] not in process.output()  # never logged


def test_keys_create_without_a_gateway_fails_clearly(tmp_path: Path) -> None:
    config = write_config(tmp_path / "llmux.yaml", {
        "server": {"port": free_port()}, "auth": {"master_key": MASTER},
        "deployment": {"data_dir": str(tmp_path / "data")},
    })
    code, output = _run(["keys", "create", "--config", str(config)], tmp_path / "keys.log")
    assert code == 1 and "cannot create a key" in output and MASTER not in output

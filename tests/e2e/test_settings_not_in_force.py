"""A setting that asks for what is not built yet is said to be so, not silently ignored."""

from __future__ import annotations

from pathlib import Path

import openai

from tests.e2e.processes import free_port, gateway, write_config


def test_tracing_enabled_is_a_warning_and_the_gateway_serves(tmp_path: Path) -> None:
    config_path = write_config(tmp_path / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": "sk-master-tracing"},
        "tracing": {"enabled": True, "endpoint": "http://127.0.0.1:4318"},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"]}],
    })
    port = free_port()
    with gateway(config_path, port, tmp_path / "gateway.log") as process:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1",
                               api_key="sk-master-tracing", max_retries=0)
        reply = client.chat.completions.create(
            model="mock-gpt", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content
        assert ('"level":"warning","logger":"llmux.cli","msg":"tracing.enabled is set, but '
                'OpenTelemetry export is not built yet: no spans are sent"') in process.output()

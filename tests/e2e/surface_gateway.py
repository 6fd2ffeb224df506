"""One real ``llmux serve`` with every provider type configured, each against its fake upstream.

The end-to-end surface tests (``test_providers_*``, ``test_surface_*``) call the gateway with the
official SDKs and parametrize over ``PROVIDERS``; the tables below name, per provider type, the
public model that answers plainly, the one that calls tools, the embeddings model and the one
whose stream breaks mid-way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.processes import free_port, gateway, write_config
from tests.fakes.anthropic_server import run_anthropic_server
from tests.fakes.azure_server import DEFAULT_API_KEY as AZURE_KEY
from tests.fakes.azure_server import run_azure_server
from tests.fakes.gemini_server import DEFAULT_API_KEY as GEMINI_KEY
from tests.fakes.gemini_server import run_gemini_server

MASTER = "sk-master-surface"
PROVIDERS = ("openai", "vllm", "azure", "anthropic", "gemini", "mock")

CHAT = {"openai": "oa-gpt", "vllm": "vl-llama", "azure": "az-gpt", "anthropic": "an-claude",
        "gemini": "ge-flash", "mock": "mock-gpt"}
"""The plain chat model of each provider type."""
TOOLS = {**CHAT, "anthropic": "an-tools"}
"""A model that calls a tool when ``tool_choice`` forces one (the fake Anthropic server decides
by model name, the others by ``tool_choice``)."""
EMBED = {"openai": "oa-embed", "vllm": "vl-embed", "azure": "az-embed", "gemini": "ge-embed",
         "mock": "mock-embed"}
"""The embeddings model of each provider type that has an embeddings API."""
BROKEN = {"openai": "oa-broken", "vllm": "vl-broken", "azure": "az-broken",
          "anthropic": "an-broken", "gemini": "ge-broken"}
"""A model whose upstream stream breaks after some content (the mock never breaks)."""


class Fakes:
    """Root URLs of the fake upstreams, to read what they received."""

    def __init__(self, openai: str, anthropic: str, gemini: str, azure: str) -> None:
        self.openai, self.anthropic, self.gemini, self.azure = openai, anthropic, gemini, azure

    def received(self, provider: str) -> list[dict[str, Any]]:
        """The requests the fake behind ``provider`` received, oldest first."""
        if provider in ("openai", "vllm"):
            url = self.openai.removesuffix("/v1") + "/_requests"
        else:
            root = {"anthropic": self.anthropic, "gemini": self.gemini.removesuffix("/v1beta"),
                    "azure": self.azure}[provider]
            url = root + "/fake/requests"
        records: list[dict[str, Any]] = httpx.get(url, timeout=5).json()
        return records


def _config(tmp: Path, fakes: Fakes) -> dict[str, Any]:
    def models(*pairs: tuple[str, str]) -> list[dict[str, str]]:
        return [{"name": name, "upstream_model": upstream} for name, upstream in pairs]

    return {
        "deployment": {"mode": "standalone", "data_dir": str(tmp / "data")},
        "auth": {"master_key": MASTER},
        "routing": {"retry_count": 0, "fallback_enabled": False},
        "providers": [
            {"name": "oai", "type": "openai", "api_key": "sk-upstream-openai",
             "base_url": fakes.openai, "models": models(
                 ("oa-gpt", "gpt-4o-mini"), ("oa-broken", "break-midstream"),
                 ("oa-embed", "text-embedding-3-small"))},
            {"name": "vl", "type": "vllm", "base_url": fakes.openai, "models": [
                # NOTE: a self-hosted model has no list price: this one's comes from config.
                {"name": "vl-llama", "upstream_model": "meta-llama/Llama-3.1-8B-Instruct",
                 "input_cost_per_mtok": "0.20", "output_cost_per_mtok": "0.60"},
                *models(("vl-broken", "break-midstream"), ("vl-embed", "BAAI/bge-small-en"))]},
            {"name": "vl-quiet", "type": "vllm", "base_url": fakes.openai,
             "headers": {"x-fake-mode": "no-usage"}, "models": [
                 {"name": "vl-no-usage", "upstream_model": "gpt-4o-mini"}]},
            {"name": "az", "type": "azure", "api_key": AZURE_KEY, "base_url": fakes.azure,
             "models": models(("az-gpt", "gpt-4o"), ("az-broken", "gpt-4o-truncated"),
                              ("az-embed", "text-embedding-3-small"))},
            {"name": "an", "type": "anthropic", "api_key": "sk-ant-fake",
             "base_url": fakes.anthropic, "models": models(
                 ("an-claude", "claude-sonnet-4-5"), ("an-tools", "claude-fake-tool-use"),
                 ("an-broken", "claude-fake-truncated"))},
            {"name": "ge", "type": "gemini", "api_key": GEMINI_KEY, "base_url": fakes.gemini,
             "models": models(("ge-flash", "gemini-2.5-flash"),
                              ("ge-broken", "gemini-fake-truncated"),
                              ("ge-embed", "gemini-embedding-001"))},
            {"name": "mk", "type": "mock", "models": ["mock-gpt", "mock-embed"],
             "mock": {"stream_chunks": 4}},
        ],
    }


@contextlib.contextmanager
def surface_gateway(tmp: Path, openai_base_url: str) -> Iterator[tuple[str, Fakes]]:
    """The gateway's base URL (no ``/v1``) and the fakes, all running until the block ends."""
    with run_anthropic_server() as anthropic, run_gemini_server() as gemini, \
            run_azure_server() as azure:
        fakes = Fakes(openai_base_url, anthropic, gemini, azure)
        port = free_port()
        config = write_config(tmp / "llmux.yaml", _config(tmp, fakes))
        with gateway(config, port, tmp / "gateway.log"):
            yield f"http://127.0.0.1:{port}", fakes

"""OpenAI-compatible servers as data: a preset only sets the base URL and how the key is sent.

A provider of ``type: groq`` (say) is the ``openai`` adapter with this table's base URL and auth
header; nothing else differs. Adding a server is adding a row.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["NATIVE_PROVIDER_TYPES", "OPENAI_COMPATIBLE_PRESETS", "Preset"]


class Preset(NamedTuple):
    base_url: str
    """Default base URL, including the ``/v1`` (or equivalent) prefix."""
    auth_header: str = "Authorization"
    """Header that carries the API key."""
    auth_scheme: str = "Bearer "
    """Prefix written before the key in that header ('' for a bare key)."""
    needs_key: bool = True
    """Whether a request without an API key makes sense (local servers do not need one)."""


NATIVE_PROVIDER_TYPES = frozenset({"openai", "azure", "anthropic", "gemini", "mock"})

OPENAI_COMPATIBLE_PRESETS: dict[str, Preset] = {
    "vllm": Preset("http://127.0.0.1:8000/v1", needs_key=False),
    "hosted_vllm": Preset("http://127.0.0.1:8000/v1", needs_key=False),
    "ollama": Preset("http://127.0.0.1:11434/v1", needs_key=False),
    "lmstudio": Preset("http://127.0.0.1:1234/v1", needs_key=False),
    "groq": Preset("https://api.groq.com/openai/v1"),
    "together": Preset("https://api.together.xyz/v1"),
    "mistral": Preset("https://api.mistral.ai/v1"),
    "deepseek": Preset("https://api.deepseek.com/v1"),
    "openrouter": Preset("https://openrouter.ai/api/v1"),
    "fireworks": Preset("https://api.fireworks.ai/inference/v1"),
    "xai": Preset("https://api.x.ai/v1"),
    "perplexity": Preset("https://api.perplexity.ai"),
    "cerebras": Preset("https://api.cerebras.ai/v1"),
    "deepinfra": Preset("https://api.deepinfra.com/v1/openai"),
    "nvidia_nim": Preset("https://integrate.api.nvidia.com/v1"),
}

"""A deployment: one model served by one provider, as configured.

Deployments are built once from config (``deployments_from_config``); the router, strategies and
live stats refer to them by ``id`` (``provider/model``), which is stable across restarts and
instances, so Redis keys and event fields can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from schemas.config import LLMuxConfig, ProviderConfig

__all__ = ["Deployment", "deployments_from_config"]


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    """``provider_name/model_name``: unique and stable."""
    model_group: str
    """The public model name clients ask for."""
    upstream_model: str
    """The model name sent to the provider."""
    provider: ProviderConfig
    weight: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    input_cost_per_mtok: Decimal | None = None
    output_cost_per_mtok: Decimal | None = None
    cached_input_cost_per_mtok: Decimal | None = None
    tags: tuple[str, ...] = field(default=())
    order: int | None = None

    @property
    def provider_name(self) -> str:
        return self.provider.name

    @property
    def provider_type(self) -> str:
        return self.provider.type


def deployments_from_config(config: LLMuxConfig) -> list[Deployment]:
    """Every (provider, model) pair in config order."""
    deployments = []
    for provider in config.providers:
        for entry in provider.model_entries:
            deployments.append(
                Deployment(
                    id=f"{provider.name}/{entry.name}",
                    model_group=entry.name,
                    upstream_model=entry.upstream_model or entry.name,
                    provider=provider,
                    weight=entry.weight,
                    rpm=entry.rpm,
                    tpm=entry.tpm,
                    max_parallel=entry.max_parallel,
                    input_cost_per_mtok=entry.input_cost_per_mtok,
                    output_cost_per_mtok=entry.output_cost_per_mtok,
                    cached_input_cost_per_mtok=entry.cached_input_cost_per_mtok,
                    tags=tuple(entry.tags),
                    order=entry.order,
                )
            )
    return deployments

"""Model names → deployments: groups, aliases, ``provider/model`` addressing and wildcards.

A name resolves, in this order, to:

1. the model group of that name (every deployment whose model ``name`` it is);
2. the group an alias (``routing.aliases``) points to;
3. one deployment by id, ``provider/model``;
4. a **wildcard** entry: a model ``name`` containing ``*`` is a pattern (``"*"``,
   ``"claude-*"``), not a group. ``provider/<model>`` resolves to that provider if one of its
   patterns matches ``<model>``; a bare ``<model>`` resolves to every provider with a matching
   pattern. The requested name is the group's name. Its deployments are made on first use: id
   ``provider/<model>``, upstream model ``<model>`` (or the entry's ``upstream_model`` if that has
   no ``*``), the entry's other settings (weight, limits, prices, tags, order).

Wildcards are never listed by ``/v1/models`` (they name no model until asked).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from router_engine.deployment import Deployment, deployments_from_config
from schemas.config import LLMuxConfig
from schemas.errors import ModelNotFound

__all__ = ["MAX_WILDCARD_GROUPS", "ModelGroups"]

MAX_WILDCARD_GROUPS = 1024
"""Wildcard resolutions remembered; past this, they are rebuilt on each call (memory stays flat)."""


class ModelGroups:
    """Every deployment of the config, by group, alias, id and wildcard pattern."""

    def __init__(self, config: LLMuxConfig) -> None:
        self._aliases: Mapping[str, str] = dict(config.routing.aliases)
        self._groups: dict[str, list[Deployment]] = {}
        self._by_id: dict[str, Deployment] = {}
        self._patterns: list[Deployment] = []
        for deployment in deployments_from_config(config):
            if "*" in deployment.model_group:
                self._patterns.append(deployment)
                continue
            self._groups.setdefault(deployment.model_group, []).append(deployment)
            self._by_id[deployment.id] = deployment
        self._wildcards: dict[str, tuple[str, list[Deployment]]] = {}

    def model_names(self) -> list[str]:
        """Public model names: every model group, then every alias of an existing group."""
        aliases = [a for a, group in self._aliases.items() if group in self._groups]
        return [*self._groups, *(a for a in aliases if a not in self._groups)]

    def deployments(self) -> list[Deployment]:
        """Every configured deployment, then those made for wildcard names so far."""
        made = {d.id: d for _, group in self._wildcards.values() for d in group}
        return [*self._by_id.values(), *(d for i, d in made.items() if i not in self._by_id)]

    def group_size(self, deployment: Deployment) -> int:
        """How many deployments serve ``deployment``'s model group."""
        group = self._groups.get(deployment.model_group)
        if group is None:
            group = self._wildcards.get(deployment.model_group, ("", []))[1]
        return max(1, len(group))

    def resolve(self, model: str) -> tuple[str, list[Deployment]]:
        """``(group name, deployments)`` that may serve ``model``; the list is the caller's own.

        Raises:
            ModelNotFound: no deployment serves that name.
        """
        group, deployments = self.resolve_shared(model)
        return group, list(deployments)

    def resolve_shared(self, model: str) -> tuple[str, Sequence[Deployment]]:
        """``resolve`` without the copy: the group's own list, which the caller must not change.

        Raises:
            ModelNotFound: no deployment serves that name.
        """
        # PERF: the router resolves every call; copying the group each time is wasted work.
        group = self._groups.get(model)
        if group is not None:
            return model, group
        alias = self._aliases.get(model)
        if alias is not None and alias in self._groups:
            return alias, self._groups[alias]
        deployment = self._by_id.get(model)
        if deployment is not None:
            return deployment.model_group, (deployment,)
        cached = self._wildcards.get(model)
        if cached is not None:
            return cached
        return self._resolve_wildcard(model)

    def _resolve_wildcard(self, model: str) -> tuple[str, list[Deployment]]:
        provider, _, rest = model.partition("/")
        made = [_made(p, rest, model) for p in self._patterns
                if rest and p.provider_name == provider and fnmatchcase(rest, p.model_group)]
        if not made:
            made = [_made(p, model, model) for p in self._patterns
                    if fnmatchcase(model, p.model_group)]
        if not made:
            raise ModelNotFound(
                f"The model '{model}' does not exist or is not served by this gateway.",
                param="model",
            )
        if len(self._wildcards) < MAX_WILDCARD_GROUPS:
            self._wildcards[model] = (model, made)
        return model, made


def _made(pattern: Deployment, model: str, group: str) -> Deployment:
    """``pattern``'s deployment for ``model``, in the model group ``group``."""
    upstream = model if "*" in pattern.upstream_model else pattern.upstream_model
    return dataclasses.replace(pattern, id=f"{pattern.provider_name}/{model}",
                               model_group=group, upstream_model=upstream)

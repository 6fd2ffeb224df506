"""Model access: which models a caller may use.

Keys, users, teams, organizations and end users each carry an allow list (``models``). An empty
list, or one holding ``*``, allows every model. Any other list allows the models it names and the
members of the access groups it names. A request must be allowed by EVERY list that applies to it
(key, its user, its team, its organization, and the request's end user), so nothing below an
organization can widen what the organization allows.

Access groups are defined by organizations and teams (``model_groups``: name → models; a team's
definition wins over its organization's), and can be given gateway-wide by whoever builds the
registry (``access_groups``). A group whose members include ``*`` allows every model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["ModelAccess", "expand_allow_list"]

ALL_MODELS = "*"


def expand_allow_list(
    models: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> frozenset[str] | None:
    """The model names ``models`` allows, with groups expanded; None when it allows every model."""
    if not models or ALL_MODELS in models:
        return None
    allowed: set[str] = set()
    for entry in models:
        members = groups.get(entry)
        if members is None:
            allowed.add(entry)
        elif ALL_MODELS in members:
            return None
        else:
            allowed.update(members)
    return frozenset(allowed)


class ModelAccess:
    """The intersection of the allow lists that apply to one caller, precomputed once."""

    __slots__ = ("_allowed",)

    def __init__(self, allowed: Sequence[frozenset[str]] = ()) -> None:
        self._allowed = tuple(allowed)

    @classmethod
    def build(
        cls, lists: Sequence[Sequence[str]], groups: Mapping[str, Sequence[str]]
    ) -> ModelAccess:
        """Access allowed by every list in ``lists`` (each expanded with ``groups``)."""
        expanded = [expand_allow_list(models, groups) for models in lists]
        return cls([allowed for allowed in expanded if allowed is not None])

    @property
    def is_unrestricted(self) -> bool:
        return not self._allowed

    def allows(self, model: str) -> bool:
        # PERF: one frozenset lookup per restricting list; most callers have none or one.
        return all(model in allowed for allowed in self._allowed)

    def narrowed(self, models: Sequence[str], groups: Mapping[str, Sequence[str]]) -> ModelAccess:
        """This access further limited by ``models`` (an end user's allow list)."""
        extra = expand_allow_list(models, groups)
        return self if extra is None else ModelAccess((*self._allowed, extra))

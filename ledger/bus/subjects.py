"""NATS subject filters (``*`` matches one token, ``>`` the rest), for the in-process bus.

JetStream evaluates filters on the server; ``LocalBus`` has to do it itself, with the same rules, so
a consumer written against one bus behaves the same on the other.
"""

from __future__ import annotations

__all__ = ["SubjectFilter"]


class SubjectFilter:
    """A compiled subject filter such as ``llmux.>`` or ``llmux.*.recorded``."""

    __slots__ = ("_has_tail", "_tokens", "literal", "text")

    def __init__(self, text: str) -> None:
        """Compile ``text``.

        Raises:
            ValueError: empty tokens, or ``>`` anywhere but last (NATS rejects those too).
        """
        tokens = text.split(".")
        if any(not token for token in tokens):
            raise ValueError(f"invalid subject filter {text!r}: empty token")
        if ">" in tokens[:-1]:
            raise ValueError(f"invalid subject filter {text!r}: '>' must be the last token")
        self.text = text
        self._has_tail = tokens[-1] == ">"
        self._tokens = tuple(tokens[:-1] if self._has_tail else tokens)
        self.literal: str | None = None
        """Without ``*``, the filter is a plain string test on this text: for a ``>`` filter
        the prefix of every match (``llmux.`` for ``llmux.>``, empty for ``>``), otherwise the one
        subject it matches. ``None`` when a token is ``*``."""
        if "*" not in self._tokens:
            prefix = "".join(f"{token}." for token in self._tokens)
            self.literal = prefix if self._has_tail else text

    @property
    def is_prefix(self) -> bool:
        """Whether ``literal`` (if any) is a prefix rather than the whole subject."""
        return self._has_tail

    def matches(self, subject: str) -> bool:
        """Whether the concrete ``subject`` (no wildcards) is selected by this filter."""
        parts = subject.split(".")
        if self._has_tail:
            if len(parts) <= len(self._tokens):
                return False
        elif len(parts) != len(self._tokens):
            return False
        return all(
            want == "*" or want == got for want, got in zip(self._tokens, parts, strict=False)
        )

    def __repr__(self) -> str:
        return f"SubjectFilter({self.text!r})"

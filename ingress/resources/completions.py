"""``POST /v1/completions``: legacy text completions (native upstream, or through chat)."""

from __future__ import annotations

from ingress.resources.openai_operation import OpenAIOperation
from schemas.openai import CompletionRequest

__all__ = ["Completions"]


class Completions(OpenAIOperation):
    POST_SCHEMA = CompletionRequest
    ENDPOINT = "completions"
    OPERATION = "completions"

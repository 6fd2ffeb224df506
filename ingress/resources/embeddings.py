"""``POST /v1/embeddings``."""

from __future__ import annotations

from ingress.resources.openai_operation import OpenAIOperation
from schemas.openai import EmbeddingRequest

__all__ = ["Embeddings"]


class Embeddings(OpenAIOperation):
    POST_SCHEMA = EmbeddingRequest
    ENDPOINT = "embeddings"
    OPERATION = "embeddings"

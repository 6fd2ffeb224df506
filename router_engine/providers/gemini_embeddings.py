"""OpenAI embeddings requests served by Gemini's ``batchEmbedContents``.

One OpenAI request (a string or a list of strings) becomes one batch call with one
``EmbedContentRequest`` per input, so the reply keeps the input order. ``dimensions`` becomes
``outputDimensionality``. Gemini reports no token usage for embeddings, so the inputs are counted
locally (flagged ``is_estimated``). ``encoding_format: base64`` is honoured the way OpenAI does
it: little-endian float32, base64-encoded.
"""

from __future__ import annotations

from typing import Any

import orjson

from router_engine.providers.openai_operations import encode_embedding, input_tokens
from schemas.errors import InvalidRequest, NotSupported, UpstreamProtocolError
from schemas.token_usage import TokenUsage

__all__ = ["gemini_embeddings_body", "gemini_embeddings_to_openai"]


def gemini_embeddings_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``batchEmbedContents`` body for OpenAI embeddings request ``body``.

    Raises:
        InvalidRequest: ``input`` is missing or empty.
        NotSupported: ``input`` is token ids (Gemini embeds text only).
    """
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts:
        raise InvalidRequest("input must be a non-empty string or list of strings.",
                             param="input")
    if not all(isinstance(text, str) for text in texts):
        raise NotSupported("Gemini embeds text only; token-id inputs are not supported.",
                           param="input")
    name = model if model.startswith("models/") else f"models/{model}"
    dimensions = body.get("dimensions")
    requests = []
    for text in texts:
        request: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if isinstance(dimensions, int) and not isinstance(dimensions, bool):
            request["outputDimensionality"] = dimensions
        requests.append(request)
    return {"requests": requests}


def gemini_embeddings_to_openai(
    body: bytes, request: dict[str, Any], *, model: str
) -> tuple[dict[str, Any], TokenUsage]:
    """The OpenAI embeddings ``list`` and usage for a ``batchEmbedContents`` reply.

    Raises:
        UpstreamProtocolError: the reply is not a list of embeddings.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Gemini sent an embeddings reply that is not JSON.") from None
    embeddings = doc.get("embeddings") if isinstance(doc, dict) else None
    if not isinstance(embeddings, list):
        raise UpstreamProtocolError("Gemini sent an embeddings reply without 'embeddings'.")
    encoding = request.get("encoding_format")
    data = []
    for index, item in enumerate(embeddings):
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise UpstreamProtocolError("Gemini sent an embedding without 'values'.")
        data.append({"object": "embedding", "index": index,
                     "embedding": encode_embedding(values, encoding)})
    reported = (doc.get("usageMetadata") or {}).get("promptTokenCount")
    if isinstance(reported, int):
        usage = TokenUsage(prompt_tokens=reported)
    else:
        usage = TokenUsage(prompt_tokens=input_tokens(request.get("input"), model),
                           is_estimated=True)
    out = {"object": "list", "data": data, "model": model,
           "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens}}
    return out, usage

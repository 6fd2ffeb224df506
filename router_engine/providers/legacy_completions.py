"""Legacy ``/completions`` served through chat, for providers that only have a chat API.

The prompt becomes one user message; the chat reply's text becomes the completion's ``text``.
What has no chat equivalent is refused with ``NotSupported`` rather than silently ignored:
several prompts in one call, token-id prompts, ``suffix``, ``echo``, ``best_of`` above 1 and
``logprobs``. Streams are translated chunk by chunk (``ChatToCompletionsStream``) around the
provider's own chat stream translator.
"""

from __future__ import annotations

from typing import Any

import orjson

from router_engine.providers.base import ParsedResponse, StreamTranslator
from router_engine.tokens import count_request_prompt_tokens, count_text_tokens
from router_engine.translation.sse import SSEDecoder, data_frame
from schemas.errors import InvalidRequest, NotSupported, UpstreamProtocolError
from schemas.token_usage import TokenUsage

__all__ = ["ChatToCompletionsStream", "chat_to_text_completion", "completions_to_chat",
           "parse_via_chat"]

_COPIED = ("max_tokens", "temperature", "top_p", "n", "stop", "presence_penalty",
           "frequency_penalty", "seed", "user", "logit_bias", "stream", "stream_options")
_DONE = b"data: [DONE]\n\n"


def completions_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat request equivalent to legacy completions request ``body``.

    Raises:
        InvalidRequest: no usable ``prompt``.
        NotSupported: the request uses something only a completions model can do.
    """
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, list):
        raise NotSupported("This model serves one text prompt per completions call (no batches "
                           "or token ids).", param="prompt")
    if not isinstance(prompt, str):
        raise InvalidRequest("prompt must be a string.", param="prompt")
    for name in ("suffix", "echo", "logprobs"):
        if body.get(name) not in (None, False):
            raise NotSupported(f"{name} is not supported for this model.", param=name)
    if (body.get("best_of") or 1) > 1:
        raise NotSupported("best_of is not supported for this model.", param="best_of")
    chat = {name: body[name] for name in _COPIED if body.get(name) is not None}
    chat["model"] = body.get("model")
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


def chat_to_text_completion(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``text_completion`` for a ``chat.completion`` (or a chunk's worth of it)."""
    choices = []
    for choice in doc.get("choices") or []:
        part = choice.get("message") or choice.get("delta") or {}
        choices.append({"text": part.get("content") or "", "index": choice.get("index", 0),
                        "logprobs": None, "finish_reason": choice.get("finish_reason")})
    out = {"id": "cmpl-" + str(doc.get("id") or "llmux").removeprefix("chatcmpl-"),
           "object": "text_completion", "created": doc.get("created", 0),
           "model": doc.get("model"), "choices": choices}
    if "system_fingerprint" in doc:
        out["system_fingerprint"] = doc["system_fingerprint"]
    if "usage" in doc:
        out["usage"] = doc["usage"]
    return out


def _estimated(chat_body: dict[str, Any], model: str, text: str) -> TokenUsage:
    return TokenUsage(prompt_tokens=count_request_prompt_tokens(chat_body, model),
                      completion_tokens=count_text_tokens(text, model), is_estimated=True)


def parse_via_chat(parsed: ParsedResponse, chat_body: dict[str, Any],
                   model: str) -> ParsedResponse:
    """The completion for a provider's parsed chat reply; usage counted when it had none."""
    try:
        doc = orjson.loads(parsed.body)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("The upstream chat reply is not JSON.") from None
    completion = chat_to_text_completion(doc)
    text = "".join(choice["text"] for choice in completion["choices"])
    usage = parsed.usage or _estimated(chat_body, model, text)
    return ParsedResponse(orjson.dumps(completion), usage, text)


class ChatToCompletionsStream(StreamTranslator):
    """Wraps a provider's chat stream translator; emits ``text_completion`` chunks."""

    __slots__ = ("_chat_body", "_decoder", "_inner", "_model")

    def __init__(self, inner: StreamTranslator, chat_body: dict[str, Any], model: str) -> None:
        self._inner = inner
        self._chat_body = chat_body
        self._model = model
        self._decoder = SSEDecoder()

    @property
    def saw_done(self) -> bool:
        return self._inner.saw_done

    @saw_done.setter
    def saw_done(self, value: bool) -> None:
        self._inner.saw_done = value

    @property
    def usage(self) -> TokenUsage | None:
        """The provider's usage, else a local count (so never None)."""
        return self._inner.usage or _estimated(self._chat_body, self._model, self._inner.text())

    @usage.setter
    def usage(self, value: TokenUsage | None) -> None:
        self._inner.usage = value

    def feed(self, data: bytes) -> list[bytes]:
        return self._convert(self._inner.feed(data))

    def finish(self) -> list[bytes]:
        return self._convert(self._inner.finish())

    def text(self) -> str:
        return self._inner.text()

    def _convert(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for event in self._decoder.feed(b"".join(frames)):
            if event.data.strip() == b"[DONE]":
                out.append(_DONE)
                continue
            try:
                chunk = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise UpstreamProtocolError("The upstream stream sent a frame that is not "
                                            "JSON.") from None
            completion = chat_to_text_completion(chunk)
            has_content = any(c["text"] or c["finish_reason"] for c in completion["choices"])
            if has_content or completion.get("usage") is not None:
                out.append(data_frame(completion))
        return out

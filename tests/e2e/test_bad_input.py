"""Bad input of any shape gets the right 4xx with an OpenAI error body; the server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import free_port, gateway, write_config

MASTER = "sk-master-bad-input"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("bad-input")
    port = free_port()
    config = write_config(tmp / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(tmp / "data")},
        "server": {"max_body_bytes": 4096},
        "auth": {"master_key": MASTER},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"]}],
    })
    with gateway(config, port, tmp / "gateway.log"):
        yield f"http://127.0.0.1:{port}"


def _post(base_url: str, content: bytes, key: str | None = MASTER,
          path: str = "/v1/chat/completions") -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return httpx.post(base_url + path, content=content, headers=headers, timeout=10)


def _assert_openai_error(resp: httpx.Response, status: int, error_type: str,
                         param: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error_type
    assert error["message"]
    if param is not None:
        assert error["param"] == param


GOOD = b'{"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}'

CASES = [
    ("not json", b"{not json", 400, "invalid_request_error", None),
    ("json array", b"[1, 2]", 400, "invalid_request_error", None),
    ("empty body", b"", 400, "invalid_request_error", None),
    ("model wrong type", b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}',
     400, "invalid_request_error", "model"),
    ("messages wrong type", b'{"model": "mock-gpt", "messages": "hello"}',
     400, "invalid_request_error", "messages"),
    ("missing model", b'{"messages": [{"role": "user", "content": "x"}]}',
     400, "invalid_request_error", "model"),
    ("missing messages", b'{"model": "mock-gpt"}', 400, "invalid_request_error", "messages"),
    ("bad role", b'{"model": "mock-gpt", "messages": [{"role": "wizard", "content": "x"}]}',
     400, "invalid_request_error", "messages[0].role"),
    ("unknown model", b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}',
     404, "not_found_error", "model"),
    ("over the limit", b'{"model": "mock-gpt", "messages": [{"role": "user", "content": "'
     + b"x" * 5000 + b'"}]}', 413, "invalid_request_error", None),
]


@pytest.mark.parametrize(("name", "body", "status", "error_type", "param"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_body_gets_openai_error(base_url: str, name: str, body: bytes, status: int,
                                    error_type: str, param: str | None) -> None:
    _assert_openai_error(_post(base_url, body), status, error_type, param)
    assert _post(base_url, GOOD).status_code == 200  # and the server keeps serving


def test_missing_key_is_401(base_url: str) -> None:
    _assert_openai_error(_post(base_url, GOOD, key=None), 401, "authentication_error")


def test_wrong_key_is_401(base_url: str) -> None:
    _assert_openai_error(_post(base_url, GOOD, key="sk-wrong"), 401, "authentication_error")


def test_unknown_route_and_method(base_url: str) -> None:
    _assert_openai_error(_post(base_url, GOOD, path="/v1/nothing-here"), 404, "not_found_error")
    resp = httpx.delete(base_url + "/v1/chat/completions",
                        headers={"authorization": f"Bearer {MASTER}"})
    _assert_openai_error(resp, 405, "invalid_request_error")


def test_key_generate_needs_master_key(base_url: str) -> None:
    created = _post(base_url, b'{"key_alias": "app"}', path="/key/generate").json()
    virtual = created["key"]
    assert _post(base_url, GOOD, key=virtual).status_code == 200
    denied = _post(base_url, b"{}", key=virtual, path="/key/generate")
    _assert_openai_error(denied, 403, "permission_error")


def test_health(base_url: str) -> None:
    assert httpx.get(base_url + "/health/live").json() == {"status": "ok"}
    ready = httpx.get(base_url + "/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_config_errors_name_the_key_path(tmp_path: Path) -> None:
    from tests.e2e.processes import LLMuxProcess

    bad = write_config(tmp_path / "bad.yaml", {"providers": [{"name": "x", "type": "opnai"}]})
    process = LLMuxProcess(["config", "check", str(bad)], tmp_path / "check.log").start()
    assert process.proc is not None and process.proc.wait(30) == 1
    assert "providers[0].type: unknown provider type 'opnai'" in process.output()

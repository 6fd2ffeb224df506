"""``server.read_timeout``: a client that is slow to send its request gets a 408 and is let go.

The clients here are raw sockets: the point is a client that stops half-way, which no SDK does.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.processes import free_port, gateway, write_config

BODY = json.dumps({"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}).encode()


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """The main port and the admin port of one gateway."""
    folder = tmp_path_factory.mktemp("read-timeout")
    admin_port = free_port()
    config_path = write_config(folder / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(folder / "data")},
        "auth": {"master_key": "sk-master-read-timeout"},
        "server": {"read_timeout": "1s", "admin_port": admin_port},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"]}],
    })
    port = free_port()
    with gateway(config_path, port, folder / "gateway.log"):
        yield port, admin_port


@pytest.fixture
def port(ports: tuple[int, int]) -> int:
    return ports[0]


def _request(body: bytes, declared_length: int | None = None) -> bytes:
    length = len(body) if declared_length is None else declared_length
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: llmux\r\n"
            b"authorization: Bearer sk-master-read-timeout\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (length, body))


def _read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(15)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("sent", [
    pytest.param(_request(BODY)[:40], id="headers-unfinished"),
    pytest.param(_request(BODY[:10], declared_length=len(BODY)), id="body-unfinished"),
])
def test_a_request_not_sent_in_time_gets_a_408_and_the_connection_closes(
        port: int, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(sent)
        raw = _read_until_closed(sock)  # the gateway closes the connection
    status, body = _status_and_body(raw)
    assert status == 408
    assert body["error"] == {
        "message": "The request was not received within 1 s (server.read_timeout); send it again.",
        "type": "invalid_request_error", "param": None, "code": "request_timeout"}


def test_the_admin_port_has_the_same_deadline(ports: tuple[int, int]) -> None:
    with socket.create_connection(("127.0.0.1", ports[1])) as sock:
        sock.sendall(b"POST /key/generate HTTP/1.1\r\nhost: llmux\r\ncontent-len")
        status, body = _status_and_body(_read_until_closed(sock))
    assert status == 408
    assert body["error"]["code"] == "request_timeout"  # type: ignore[index]


def test_an_idle_keep_alive_connection_is_not_a_late_request(port: int) -> None:
    """The deadline runs from a request's first byte to its last, not between requests."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(15)
        for _ in range(2):
            sock.sendall(_request(BODY))
            head = sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            time.sleep(2.5)  # idle for longer than the read timeout, then the next request


def test_a_request_sent_slowly_but_within_the_deadline_is_served(port: int) -> None:
    request = _request(BODY)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for start in range(0, len(request), len(request) // 4 + 1):
            sock.sendall(request[start:start + len(request) // 4 + 1])
            time.sleep(0.15)
        sock.settimeout(15)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")

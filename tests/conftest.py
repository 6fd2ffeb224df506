"""Shared fixtures: the real services of distributed mode, each test run in its own namespace.

Service URLs come from the environment (``LLMUX_TEST_POSTGRES_URL``, ``LLMUX_TEST_REDIS_URL``,
``LLMUX_TEST_NATS_URL``) with the development machines' defaults. When a service is missing the
test is skipped on a laptop, but with ``CI=true`` it fails: CI must never go green by skipping.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

POSTGRES_URL = os.environ.get("LLMUX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LLMUX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("LLMUX_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        address = (parsed.hostname or "127.0.0.1", parsed.port or default_port)
        with socket.create_connection(address, 2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> str:
    """``url`` if the service answers; otherwise skip, or fail when ``CI=true``."""
    if _reachable(url, default_port):
        return url
    message = (f"{name} is not reachable at {url} "
               "(start it: see DESIGN.md §8 / deploy/dev-services.sh)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def nats_url() -> str:
    return require_service("NATS", NATS_URL, 4222)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_service("Redis", REDIS_URL, 6379)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return require_service("PostgreSQL", POSTGRES_URL, 5432)


@pytest.fixture
def namespace() -> str:
    """A unique short name for one test's stream, schema, database or key prefix."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def postgres_database(postgres_url: str, namespace: str) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards; yields its URL."""
    import psycopg  # NOTE: imported here so tests without Postgres need no driver at collection.

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{namespace}"')
    parsed = urlparse(postgres_url)
    yield parsed._replace(path=f"/{namespace}").geturl()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{namespace}" WITH (FORCE)')

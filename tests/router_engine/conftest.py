"""Fixtures for router_engine tests: the fake OpenAI upstream (a real HTTP server)."""

from tests.fakes.fixtures import fake_openai, fake_openai_server

__all__ = ["fake_openai", "fake_openai_server"]

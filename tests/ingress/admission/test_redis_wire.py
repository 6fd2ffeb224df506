"""Admission packs its own Redis commands: byte for byte what redis-py would send."""

from __future__ import annotations

from redis.asyncio.connection import Connection

from ingress.admission.redis_wire import pack_command


def test_packed_command_is_what_redis_py_would_send() -> None:
    parts = ["EVALSHA", "0" * 40, "2", "{p}:b:team:ünïcode", "{p}:bl:team:x", "", "12,,3"]
    expected = b"".join(Connection().pack_command(*parts))
    assert pack_command(parts) == expected

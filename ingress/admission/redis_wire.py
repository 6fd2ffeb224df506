"""A Redis command packed by us and sent over a connection from redis-py's pool.

# PERF: ``Redis.execute_command`` costs 60-100 µs of CPU per call here: argument encoding one
# item at a time (``pack_command``, ``Encoder.encode``: 7.6 % of the gateway's CPU with batched
# admission), the retry wrapper and redis-py 8's per-command observability hooks. Admission sends
# one kind of command, ``EVALSHA``, so it packs the RESP bytes itself and keeps redis-py for
# what it is good at: pooling, connecting, timeouts and parsing replies (hiredis).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import ConnectionPool
from redis.exceptions import ResponseError

__all__ = ["pack_command", "send_packed"]


def pack_command(parts: Sequence[str]) -> bytes:
    """``parts`` as one RESP array of bulk strings (UTF-8)."""
    chunks = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode()
        chunks.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(chunks)


async def send_packed(pool: ConnectionPool, command: bytes) -> object:
    """Send ``command`` on a pooled connection and return its reply.

    Raises:
        RedisError: no connection, a timeout, or an error reply (``ResponseError``).
    """
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # untyped in redis-py
    try:
        await conn.send_packed_command(command)
        return await conn.read_response()
    except ResponseError:
        raise  # NOTE: an error reply leaves the connection in a clean state
    except BaseException:
        # NOTE: a reply may still be on its way (timeout, cancellation): never reuse this one.
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)

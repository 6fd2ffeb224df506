"""An isolated namespace on the shared Postgres, NATS and Redis for one distributed-mode run.

The services are shared with everyone on the machine, so a benchmark never stops or flushes them:
it creates its own database, names its own JetStream stream and Redis key prefix, and removes them
afterwards (best effort; a failure to clean up is printed, not raised).
URLs come from ``LLMUX_BENCH_POSTGRES_URL`` / ``LLMUX_BENCH_NATS_URL`` / ``LLMUX_BENCH_REDIS_URL``,
defaulting to the development machines' services (DESIGN.md §8).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

__all__ = ["DistributedNamespace"]

POSTGRES_URL = os.environ.get("LLMUX_BENCH_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("LLMUX_BENCH_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("LLMUX_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class DistributedNamespace:
    name: str
    database_url: str
    nats_url: str
    redis_url: str

    @classmethod
    def create(cls) -> DistributedNamespace:
        """Create the database now; the stream and keys are created by LLMux itself."""
        import psycopg

        name = "bench" + uuid.uuid4().hex[:10]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = urlparse(POSTGRES_URL)._replace(path=f"/{name}").geturl()
        return cls(name, url, NATS_URL, REDIS_URL)

    def row_counts(self) -> dict[str, int]:
        """Rows in every table of the run's database (what the ledger has persisted so far)."""
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            tables = [(r[0], r[1]) for r in conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE "
                "table_type = 'BASE TABLE' AND table_schema NOT IN "
                "('pg_catalog', 'information_schema')")]
            counts = {}
            for schema, name in tables:
                row = conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()
                counts[f"{schema}.{name}"] = int(row[0]) if row else 0
        return counts

    def settled_row_counts(self, timeout_s: float = 30.0) -> dict[str, int]:
        """Row counts once two reads a second apart agree (the ledger caught up), or at timeout."""
        deadline = time.monotonic() + timeout_s
        previous = self.row_counts()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            current = self.row_counts()
            if current == previous:
                return current
            previous = current
        return previous

    def drop(self) -> None:
        for step in (self._drop_database, self._drop_stream, self._drop_keys):
            try:
                step()
            except Exception as exc:  # NOTE: cleanup is best effort; say what was left behind.
                print(f"bench: could not clean {self.name} ({step.__name__}): {exc}",
                      file=sys.stderr)

    def _drop_database(self) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _drop_stream(self) -> None:
        import nats
        from nats.js.errors import NotFoundError

        async def drop() -> None:
            client = await nats.connect(self.nats_url, connect_timeout=3, max_reconnect_attempts=1)
            try:
                await client.jetstream().delete_stream(self.name.upper())
            except NotFoundError:
                pass
            finally:
                await client.close()

        asyncio.run(asyncio.wait_for(drop(), 15))

    def _drop_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            batch = []
            for key in client.scan_iter(match=f"{self.name}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.delete(*batch)
                    batch.clear()
            if batch:
                client.delete(*batch)
        finally:
            client.close()

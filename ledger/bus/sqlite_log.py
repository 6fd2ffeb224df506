"""The SQLite tables behind ``LocalBus``: the message stream, durable consumers and their acks.

Every method is blocking and must run on the bus's single worker thread (one connection, never
shared). The tables mirror JetStream's state:

* ``messages(seq, msg_id UNIQUE, subject, data)``: the stream; ``seq`` comes from
  ``AUTOINCREMENT`` so a sequence number is never reused, even after pruning.
* ``consumers(name, filter, ack_floor)``: every matching message with ``seq <= ack_floor`` is acked.
* ``acks(consumer, seq)``: acks above the floor (out-of-order acks); folded into the floor as soon
  as the gap closes.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Sequence

from ledger.bus.base import BusMessage
from ledger.bus.subjects import SubjectFilter

__all__ = ["SqliteMessageLog", "StoredMessage"]

StoredMessage = tuple[int, str, bytes, str]
"""``(seq, subject, data, msg_id)`` as read back from the stream."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS consumers (
    name TEXT PRIMARY KEY,
    filter TEXT NOT NULL,
    ack_floor INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS acks (
    consumer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (consumer, seq)
) WITHOUT ROWID;
"""

# NOTE: ``{subject}`` is replaced with the condition ``_subject_condition`` builds for the filter.
_UNACKED = """
SELECT m.seq, m.subject, m.data, m.msg_id FROM messages AS m
WHERE m.seq > (SELECT ack_floor FROM consumers WHERE name = :name)
  AND {subject}
  AND NOT EXISTS (SELECT 1 FROM acks AS a WHERE a.consumer = :name AND a.seq = m.seq)
ORDER BY m.seq LIMIT :limit
"""

_FIRST_UNACKED = """
SELECT MIN(m.seq) FROM messages AS m
WHERE m.seq > :floor
  AND {subject}
  AND NOT EXISTS (SELECT 1 FROM acks AS a WHERE a.consumer = :name AND a.seq = m.seq)
  AND m.seq NOT IN (SELECT value FROM json_each(:acking))
"""
"""The first message above ``:floor`` not acked, counting the seqs being acked (a JSON list)."""

_READ_AFTER = """
SELECT seq, subject, data, msg_id FROM messages
WHERE seq > :after AND {subject} ORDER BY seq LIMIT :limit
"""

_PRUNE = "DELETE FROM messages WHERE seq <= (SELECT MIN(ack_floor) FROM consumers)"

_Params = dict[str, str | int]


class SqliteMessageLog:
    """One SQLite connection holding the stream; ``path=None`` keeps it in memory."""

    def __init__(self, path: str | None, retain: Sequence[str] = ()) -> None:
        """Open (and create) the tables.

        Args:
            path: database file, or ``None`` for an in-memory stream (gone with the process).
            retain: subject filters whose messages are never pruned (e.g. admin events, which
                followers replay from the start).
        """
        self._filters: dict[str, SubjectFilter] = {}
        self._queries: dict[tuple[str, str], tuple[str, _Params]] = {}
        self._prune, self._prune_params = _prune_statement(
            [SubjectFilter(text) for text in retain]
        )
        if path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._conn = sqlite3.connect(
            path or ":memory:", isolation_level=None, check_same_thread=False
        )
        if path is not None:
            # NOTE: WAL + NORMAL survives a process crash; an OS crash may lose the last commits,
            # the same trade JetStream's file store makes with its sync interval.
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.create_function("subject_matches", 2, self._matches, deterministic=True)
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def last_seq(self) -> int:
        """The highest sequence ever assigned (0 for an empty stream)."""
        row = self._conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
        ).fetchone()
        return int(row[0]) if row else 0

    def append(self, messages: Sequence[BusMessage]) -> int:
        """Store ``messages`` (a known ``msg_id`` is skipped); returns ``last_seq()`` afterwards."""
        with self._transaction():
            self._conn.executemany(
                "INSERT OR IGNORE INTO messages (msg_id, subject, data) VALUES (?, ?, ?)",
                [(m.msg_id, m.subject, m.data) for m in messages],
            )
        return self.last_seq()

    def open_consumer(self, name: str, subject_filter: str) -> int:
        """Create durable ``name`` at the start of the stream, or check the existing one;
        returns its ack floor.

        Raises:
            ValueError: ``name`` exists with another filter.
        """
        with self._transaction():
            self._conn.execute(
                "INSERT OR IGNORE INTO consumers (name, filter, ack_floor) VALUES (?, ?, 0)",
                (name, subject_filter),
            )
            stored, floor = self._conn.execute(
                "SELECT filter, ack_floor FROM consumers WHERE name = ?", (name,)
            ).fetchone()
        if stored != subject_filter:
            raise ValueError(f"durable consumer {name!r} exists with filter {stored!r}")
        return int(floor)

    def unacked(
        self, name: str, subject_filter: str, limit: int, skip: Collection[int]
    ) -> list[StoredMessage]:
        """The first ``limit`` unacked messages of ``name`` whose sequence is not in ``skip``."""
        query, params = self._query(_UNACKED, subject_filter)
        rows = self._conn.execute(
            query, {**params, "name": name, "limit": limit + len(skip)}
        ).fetchall()
        return [row for row in rows if row[0] not in skip][:limit]

    def read_after(self, subject_filter: str, after_seq: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages matching ``subject_filter`` with ``seq > after_seq``."""
        query, params = self._query(_READ_AFTER, subject_filter)
        return self._conn.execute(
            query, {**params, "after": after_seq, "limit": limit}
        ).fetchall()

    def ack(self, name: str, subject_filter: str, seqs: Sequence[int]) -> int:
        """Record acks for ``seqs`` and move the floor over every gap-free acked prefix; returns
        the new floor.

        Only acks above the new floor are stored (out of order); the rest are the floor.
        """
        # PERF: acks usually arrive in order, right above the floor: the floor moves over all of
        # them, and inserting each into ``acks`` only to delete it again cost two b-tree writes
        # per message.
        with self._transaction():
            (floor,) = self._conn.execute(
                "SELECT ack_floor FROM consumers WHERE name = ?", (name,)
            ).fetchone()
            query, params = self._query(_FIRST_UNACKED, subject_filter)
            (first,) = self._conn.execute(
                query, {**params, "floor": floor, "name": name, "acking": json.dumps(list(seqs))}
            ).fetchone()
            floor = first - 1 if first is not None else max(floor, self.last_seq())
            self._conn.executemany(
                "INSERT OR IGNORE INTO acks (consumer, seq) VALUES (?, ?)",
                [(name, seq) for seq in seqs if seq > floor],
            )
            self._conn.execute("UPDATE consumers SET ack_floor = ? WHERE name = ?", (floor, name))
            self._conn.execute("DELETE FROM acks WHERE consumer = ? AND seq <= ?", (name, floor))
        return int(floor)

    def prune(self) -> int:
        """Delete messages every durable consumer acked (unless retained); returns the count."""
        with self._transaction():
            cursor = self._conn.execute(self._prune, self._prune_params)
        return cursor.rowcount

    def _transaction(self) -> sqlite3.Connection:
        # NOTE: with isolation_level=None the connection is in autocommit mode; the context manager
        # of sqlite3.Connection commits or rolls back, so BEGIN is issued here explicitly.
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def _query(self, template: str, subject_filter: str) -> tuple[str, _Params]:
        """``template`` selecting ``subject_filter``'s messages, and the filter's parameters."""
        key = (template, subject_filter)
        query = self._queries.get(key)
        if query is None:
            condition, params = _subject_condition(self._compiled(subject_filter), "filter")
            query = self._queries[key] = (template.format(subject=condition), params)
        return query

    def _compiled(self, text: str) -> SubjectFilter:
        compiled = self._filters.get(text)
        if compiled is None:
            compiled = self._filters[text] = SubjectFilter(text)
        return compiled

    def _matches(self, subject_filter: str, subject: str) -> bool:
        return self._compiled(subject_filter).matches(subject)


def _subject_condition(subject_filter: SubjectFilter, name: str) -> tuple[str, _Params]:
    """A SQL condition on ``subject`` selecting what ``subject_filter`` matches, and its parameters.

    # PERF: a filter without ``*`` becomes a string comparison SQLite makes itself (~0.1 µs per
    # row) instead of a call into Python (~0.9 µs); every fetch, ack and prune passes each message
    # through a filter.
    """
    literal = subject_filter.literal
    if literal is None:
        return f"subject_matches(:{name}, subject)", {name: subject_filter.text}
    if subject_filter.is_prefix:
        return (f"substr(subject, 1, :{name}_length) = :{name}",
                {name: literal, f"{name}_length": len(literal)})
    return f"subject = :{name}", {name: literal}


def _prune_statement(retain: Sequence[SubjectFilter]) -> tuple[str, _Params]:
    """The DELETE of every acked message, keeping those ``retain`` matches."""
    if not retain:
        return _PRUNE, {}
    conditions = [_subject_condition(keep, f"retain{index}") for index, keep in enumerate(retain)]
    params: _Params = {}
    for _, retained in conditions:
        params.update(retained)
    kept = " OR ".join(condition for condition, _ in conditions)
    return f"{_PRUNE} AND NOT ({kept})", params

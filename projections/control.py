"""The control read model: organizations, teams, users, end users, keys and memberships.

Built from admin events. Each event carries the whole entity after the change, so the projection
puts that snapshot, or turns the row into a tombstone (``data`` NULL) when the entity was deleted,
unless the row already holds a newer revision: the same rule the gateways apply in memory, so the
read model and every instance agree even when concurrent changes reach the log out of revision
order. The derivation is pure and a rebuild is row-for-row identical. Each entity is a row with
its revision, a few columns to filter on and its canonical JSON (``data``, sorted keys);
``control_memberships`` lists team and organization members with their roles. Never a raw key:
keys are stored by id and HMAC hash.

The gateway loads every entity from here at startup, then follows admin events on the bus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from projections.base import Projection, View, decode_as
from projections.stores import Cursor, PostgresStore, SQLiteStore, Tracking
from schemas.events import (
    AdminChange,
    ChangeOutcome,
    EndUserState,
    EntityState,
    EventEnvelope,
    KeyState,
    OrgState,
    TeamState,
    UserState,
)

__all__ = [
    "CONTROL_TABLES",
    "ControlProjection",
    "ControlTable",
    "ControlView",
    "PostgresControlView",
    "SQLiteControlView",
    "decode_entity",
    "entities_query",
]


@dataclass(frozen=True, slots=True)
class ControlTable:
    """Where one kind of entity lives, and which of its fields get their own column."""

    name: str
    id_column: str
    state: type[EntityState]
    columns: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]
    """The filter columns' values of an entity (in ``columns`` order)."""


CONTROL_TABLES: dict[str, ControlTable] = {
    OrgState.KIND: ControlTable("control_orgs", "org_id", OrgState, (), lambda org: ()),
    TeamState.KIND: ControlTable("control_teams", "team_id", TeamState, ("org_id",),
                                 lambda team: (team.org_id,)),
    UserState.KIND: ControlTable("control_users", "user_id", UserState, ("org_id", "user_role"),
                                 lambda user: (user.org_id, user.user_role)),
    EndUserState.KIND: ControlTable("control_end_users", "end_user_id", EndUserState, (),
                                    lambda end_user: ()),
    KeyState.KIND: ControlTable(
        "control_keys", "key_id", KeyState,
        ("key_hash", "user_id", "team_id", "org_id", "blocked"),
        lambda key: (key.key_hash, key.user_id, key.team_id, key.org_id, int(key.blocked)),
    ),
}
"""Every entity table, in load order (orgs before the teams, users and keys under them)."""

_MEMBERSHIPS = "control_memberships"
_ENCODER = msgspec.json.Encoder(order="sorted")


def encode_entity(entity: EntityState) -> str:
    """Canonical JSON text of an entity (sorted keys: a rebuild writes the same bytes)."""
    return _ENCODER.encode(entity).decode()


def decode_entity(table: ControlTable, data: str | bytes) -> EntityState:
    return msgspec.json.decode(data, type=table.state)


class ControlView(View):
    """The control tables; SQLite and Postgres differ only in the store."""

    name = "control"
    tables = (*(table.name for table in CONTROL_TABLES.values()), _MEMBERSHIPS)

    def ddl(self) -> list[str]:
        statements = []
        for table in CONTROL_TABLES.values():
            extra = "".join(f", {column} {_column_type(column)}" for column in table.columns)
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {table.name} ({table.id_column} TEXT PRIMARY KEY, "
                f"revision BIGINT NOT NULL{extra}, data TEXT)")
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {_MEMBERSHIPS} (scope TEXT NOT NULL, "
            "scope_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL, "
            "PRIMARY KEY (scope, scope_id, user_id))")
        return statements

    def apply_with_tracking(self, outcomes: Sequence[ChangeOutcome], tracking: Tracking) -> None:
        """Apply the outcomes in order and move the position, in one transaction.

        Raises:
            ProjectionConflict: the position is no longer ``tracking.previous``; nothing changed.
        """
        with self.store.transaction() as cursor:
            self.store.advance(cursor, tracking)
            for outcome in outcomes:
                self._apply(cursor, outcome)

    def entities(self) -> list[EntityState]:
        """Every entity: orgs, teams, users, end users, then keys (each ordered by id)."""
        found: list[EntityState] = []
        for table in CONTROL_TABLES.values():
            rows = self.store.select(entities_query(table))
            found.extend(decode_entity(table, row[0]) for row in rows)
        return found

    def memberships(self) -> list[tuple[str, str, str, str]]:
        """``(scope, scope_id, user_id, role)`` rows; scope is ``team`` or ``organization``."""
        rows = self.store.select(
            f"SELECT scope, scope_id, user_id, role FROM {_MEMBERSHIPS} "
            "ORDER BY scope, scope_id, user_id")
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def _apply(self, cursor: Cursor, outcome: ChangeOutcome) -> None:
        table = CONTROL_TABLES.get(outcome.kind)
        if table is None or self._is_stale(cursor, table, outcome):
            return
        mark = self.store.placeholder
        cursor.execute(f"DELETE FROM {table.name} WHERE {table.id_column} = {mark}",
                       (outcome.entity_id,))
        if outcome.kind in (TeamState.KIND, OrgState.KIND):
            cursor.execute(f"DELETE FROM {_MEMBERSHIPS} WHERE scope = {mark} AND "
                           f"scope_id = {mark}", (outcome.kind, outcome.entity_id))
        columns = (table.id_column, "revision", *table.columns, "data")
        values: tuple[Any, ...] = (outcome.entity_id, outcome.revision,
                                   *([None] * len(table.columns)), None)
        if outcome.after is not None:
            values = (outcome.entity_id, outcome.revision, *table.values(outcome.after),
                      encode_entity(outcome.after))
        marks = ", ".join([mark] * len(columns))
        cursor.execute(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})",
                       values)
        members = _members(outcome.after) if outcome.after is not None else []
        if members:
            cursor.executemany(
                f"INSERT INTO {_MEMBERSHIPS} (scope, scope_id, user_id, role) "
                f"VALUES ({mark}, {mark}, {mark}, {mark})",
                [(outcome.kind, outcome.entity_id, user_id, role) for user_id, role in members])

    def _is_stale(self, cursor: Cursor, table: ControlTable, outcome: ChangeOutcome) -> bool:
        cursor.execute(f"SELECT revision FROM {table.name} WHERE {table.id_column} = "
                       f"{self.store.placeholder}", (outcome.entity_id,))
        rows = cursor.fetchall()
        return bool(rows) and int(rows[0][0]) > outcome.revision


def _members(entity: EntityState) -> list[tuple[str, str]]:
    if isinstance(entity, TeamState):
        return [(member.user_id, member.role) for member in entity.members]
    if isinstance(entity, OrgState):
        return [(member.user_id, member.user_role) for member in entity.members]
    return []


def _column_type(column: str) -> str:
    return "INTEGER" if column == "blocked" else "TEXT"


def entities_query(table: ControlTable) -> str:
    """The live entities of ``table`` (tombstones left out), ordered by id."""
    return (f"SELECT data FROM {table.name} WHERE data IS NOT NULL "
            f"ORDER BY {table.id_column}")


class SQLiteControlView(ControlView):
    def __init__(self, path: str) -> None:
        super().__init__(SQLiteStore(path))


class PostgresControlView(ControlView):
    def __init__(self, url: str) -> None:
        super().__init__(PostgresStore(url))


class ControlProjection(Projection[ControlView]):
    """Every organization, team, user, end user and key as it is now."""

    def process_batch(
        self, events: Sequence[tuple[int, EventEnvelope]], tracking: Tracking
    ) -> None:
        outcomes: list[ChangeOutcome] = []
        for _, envelope in events:
            self.process_event(envelope, outcomes)
        self.view.apply_with_tracking(outcomes, tracking)

    @staticmethod
    def process_event(envelope: EventEnvelope, outcomes: list[ChangeOutcome]) -> None:
        if not envelope.type.startswith("admin."):
            return  # every other event only advances the position
        change = decode_as(envelope, AdminChange)
        outcome = change.outcome(envelope.occurred_at) if change is not None else None
        if outcome is not None:
            outcomes.append(outcome)

"""The control read model (SQLite and Postgres): entities as the gateways see them, tombstones,
revision order, memberships, rebuilds, and stored version-1 ``KeyCreated`` events."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import msgspec

from ingress.control import ControlState
from ledger import LedgerApp
from projections import (
    KeyRegistryProjection,
    ProjectionRunner,
    SQLiteKeyRegistryView,
    Tracking,
    open_queries,
)
from projections.control import CONTROL_TABLES, ControlView
from schemas.events import (
    EndUserCreated,
    EndUserState,
    EventEnvelope,
    KeyBlocked,
    KeyCreated,
    KeyDeleted,
    KeyState,
    KeyUpdated,
    OrganizationCreated,
    OrganizationMemberAdded,
    OrgMember,
    OrgState,
    TeamCreated,
    TeamDeleted,
    TeamMember,
    TeamMemberAdded,
    TeamState,
    UserCreated,
    UserState,
)
from tests.projections.backends import (
    OpenProjection,
    PostgresBackend,
    ProjectionFixtures,
    SQLiteBackend,
    Stores,
)
from tests.projections.events import BASE_TIME, usage_event


def _at(seconds: int) -> Any:
    return BASE_TIME + timedelta(seconds=seconds)


def _wrap(change: Any, seconds: int) -> EventEnvelope:
    return EventEnvelope.wrap(change, actor="admin", occurred_at=_at(seconds))


def _history() -> list[EventEnvelope]:
    org = OrgState(org_id="o1", created_at=_at(0), org_alias="acme")
    org_with_admin = msgspec.structs.replace(
        org, members=[OrgMember(user_id="u1", user_role="org_admin")], revision=1)
    team = TeamState(team_id="t1", created_at=_at(1), org_id="o1")
    team_with_member = msgspec.structs.replace(
        team, members=[TeamMember(user_id="u1", role="admin")], revision=1)
    gone = TeamState(team_id="t2", created_at=_at(1))
    user = UserState(user_id="u1", created_at=_at(2), org_id="o1")
    created = KeyCreated(key_id="k1", key_hash="hash-1", key_prefix="sk-llmux-aaaa",
                         team_id="t1", models=["gpt-4o"], source_ip="10.0.0.9")
    k1 = created.state(_at(3))
    k1_updated = msgspec.structs.replace(k1, models=["*"], revision=1)
    k1_blocked = msgspec.structs.replace(k1_updated, blocked=True, revision=2)
    k2 = KeyCreated(key_id="k2", key_hash="hash-2", key_prefix="sk-llmux-bbbb")
    return [_wrap(change, index) for index, change in enumerate([
        OrganizationCreated(organization_id="o1", after=org),
        TeamCreated(team_id="t1", after=team),
        TeamCreated(team_id="t2", after=gone),
        UserCreated(user_id="u1", after=user),
        created,
        k2,
        KeyUpdated(key_id="k1", before=k1, after=k1_updated),
        TeamMemberAdded(team_id="t1", before=team, after=team_with_member, user_ids=["u1"]),
        OrganizationMemberAdded(organization_id="o1", before=org, after=org_with_admin,
                                user_ids=["u1"]),
        KeyBlocked(key_id="k1", before=k1_updated, after=k1_blocked),
        KeyUpdated(key_id="k1", before=k1, after=k1_updated),  # late: revision 1 after 2
        KeyDeleted(key_id="k2", before=k2.state(_at(5))),
        TeamDeleted(team_id="t2", before=gone),
        TeamCreated(team_id="t2", after=gone),  # late: revision 0 after the tombstone
        EndUserCreated(end_user_id="bob", after=EndUserState(end_user_id="bob",
                                                             created_at=_at(9))),
    ])]


def _view(projection: Any) -> ControlView:
    assert isinstance(projection.view, ControlView)
    return projection.view


def _rows(view: ControlView) -> dict[str, list[Any]]:
    tables = [*(table.name for table in CONTROL_TABLES.values()), "control_memberships"]
    return {name: [tuple(row) for row in view.store.select(f"SELECT * FROM {name} ORDER BY 1, 2")]
            for name in tables}


class ControlContract(ProjectionFixtures):
    async def test_the_read_model_is_what_every_gateway_holds(
        self, ledger: LedgerApp, projection: OpenProjection, stores: Stores
    ) -> None:
        history = _history()
        ledger.record([usage_event("k1", BASE_TIME), *history])
        control = projection("control")
        assert ProjectionRunner(ledger, control, batch_size=4).run_until_caught_up() == 16
        in_memory = ControlState()
        for envelope in history:
            in_memory.apply(envelope)
        expected = list(in_memory.entities())
        assert _view(control).entities() == expected
        queries = open_queries(**stores.views)
        try:
            assert await queries.control_entities() == expected
        finally:
            await queries.aclose()
        k1 = in_memory.key("k1")
        assert k1 is not None and k1.blocked and k1.models == ["*"]  # the late update lost
        assert in_memory.key("k2") is None and in_memory.team("t2") is None
        assert _view(control).memberships() == [
            ("organization", "o1", "u1", "org_admin"), ("team", "t1", "u1", "admin")]

    def test_a_rebuild_is_row_for_row_identical(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        ledger.record(_history())
        control = projection("control")
        runner = ProjectionRunner(ledger, control, batch_size=3)
        runner.run_until_caught_up()
        live = _rows(_view(control))
        assert live["control_keys"][0][0] == "k1"
        assert runner.rebuild() == 15
        assert _rows(_view(control)) == live

    def test_a_stored_version_1_key_created_event_still_loads(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        payload = (b'{"key_id":"old","key_hash":"h-old","key_prefix":"sk-llmux-old1",'
                   b'"key_alias":"legacy","user_id":null,"team_id":null,"org_id":null,'
                   b'"models":["gpt-4o"],"metadata":{"env":"prod"},"source_ip":"10.1.1.1"}')
        stored = EventEnvelope(id=uuid.uuid4(), type="admin.key.created", version=1,
                               occurred_at=BASE_TIME, actor="admin",
                               payload=msgspec.Raw(payload))
        ledger.record([stored])
        control = projection("control")
        ProjectionRunner(ledger, control).run_until_caught_up()
        (key,) = _view(control).entities()
        assert isinstance(key, KeyState)
        assert (key.key_id, key.key_alias, key.models, key.metadata, key.created_at) == (
            "old", "legacy", ["gpt-4o"], {"env": "prod"}, BASE_TIME)
        assert not key.blocked and key.expires is None and key.limits.max_budget_micros is None

    def test_rows_hold_hashes_never_keys(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        ledger.record(_history())
        control = projection("control")
        ProjectionRunner(ledger, control).run_until_caught_up()
        keys = _view(control).store.select(
            "SELECT key_id, key_hash, team_id, blocked, revision FROM control_keys ORDER BY 1")
        assert [tuple(row) for row in keys] == [("k1", "hash-1", "t1", 1, 2),
                                                ("k2", None, None, None, 1)]


class TestControlOnSQLite(SQLiteBackend, ControlContract):
    pass


class TestControlOnPostgres(PostgresBackend, ControlContract):
    pass


def test_the_key_registry_keeps_metadata_of_any_json_type(tmp_path: Any) -> None:
    view = SQLiteKeyRegistryView(str(tmp_path / "keys.db"))
    created = KeyCreated(key_id="k", key_hash="h", key_prefix="p",
                         metadata={"tier": 2, "tags": ["a"], "owner": "ops"})
    KeyRegistryProjection(view).process_batch([(1, _wrap(created, 0))], Tracking("keys", 0, 1))
    assert view.records()[0].metadata == {"tier": 2, "tags": ["a"], "owner": "ops"}
    view.close()

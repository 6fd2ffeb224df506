"""The in-memory control state: applying admin events is idempotent and order-convergent."""

from __future__ import annotations

import random
from datetime import timedelta

import msgspec

from ingress.control import ControlState
from schemas.events import (
    EventEnvelope,
    KeyBlocked,
    KeyCreated,
    KeyDeleted,
    KeyRegenerated,
    KeyUpdated,
    RequestCompleted,
    TeamCreated,
    TeamDeleted,
    TeamMemberAdded,
    UserCreated,
    UserUpdated,
)
from tests.ingress.control.factories import T0, key, team, user, wrap


def _history() -> list[EventEnvelope]:
    """A key's life: created, updated, blocked, regenerated; a team and a user change too."""
    created = KeyCreated(key_id="k1", key_hash="hash-1", key_prefix="sk-1", models=["a"])
    first = created.state(T0)
    updated = msgspec.structs.replace(first, models=["a", "b"], key_alias="renamed")
    blocked = msgspec.structs.replace(updated, blocked=True)
    rotated = msgspec.structs.replace(blocked, key_hash="hash-2", rotation_count=1)
    t1 = team("t1")
    t1_with_member = msgspec.structs.replace(t1, members=team("x", {"u1": "admin"}).members)
    u1 = user("u1")
    return [wrap(event, T0 + timedelta(seconds=i)) for i, event in enumerate([
        created,
        KeyUpdated(key_id="k1", before=first, after=updated),
        TeamCreated(team_id="t1", after=t1),
        UserCreated(user_id="u1", after=u1),
        KeyBlocked(key_id="k1", before=updated, after=blocked),
        TeamMemberAdded(team_id="t1", before=t1, after=t1_with_member, user_ids=["u1"]),
        KeyRegenerated(key_id="k1", before=blocked, after=rotated),
        UserUpdated(user_id="u1", before=u1, after=msgspec.structs.replace(u1, user_alias="al")),
    ])]


def _snapshot(state: ControlState) -> list[object]:
    return list(state.entities())


def test_applying_a_history_gives_the_last_state_of_each_entity() -> None:
    state = ControlState()
    for envelope in _history():
        assert state.apply(envelope)
    k1 = state.key("k1")
    assert k1 is not None and k1.models == ["a", "b"] and k1.blocked and k1.key_hash == "hash-2"
    assert k1.created_at == T0  # KeyCreated's envelope time is the key's anchor
    assert state.key_by_hash("hash-2") == k1
    assert state.key_by_hash("hash-1") is None  # the old secret is forgotten
    t1 = state.team("t1")
    assert t1 is not None and t1.role_of("u1") == "admin"
    assert [t.team_id for t in state.teams_of_user("u1")] == ["t1"]
    assert state.user("u1") is not None and state.user("u1").user_alias == "al"  # type: ignore[union-attr]


def test_replaying_any_suffix_over_a_later_snapshot_converges() -> None:
    history = _history()
    full = ControlState()
    for envelope in history:
        full.apply(envelope)
    for cut in range(len(history)):
        for suffix_start in range(cut + 1):
            partial = ControlState()
            for envelope in history[:cut]:
                partial.apply(envelope)
            replayed = ControlState()
            replayed.load(partial.entities())  # the projection's snapshot at ``cut``
            for envelope in history[suffix_start:]:  # then the bus from an earlier point
                replayed.apply(envelope)
            assert _snapshot(replayed) == _snapshot(full), (cut, suffix_start)


def test_applying_twice_changes_nothing_and_moves_the_generation() -> None:
    state = ControlState()
    history = _history()
    for envelope in history:
        state.apply(envelope)
    before, generation = _snapshot(state), state.generation
    for envelope in random.Random(3).sample(history[-3:], 3):
        state.apply(envelope)
    state.apply(history[-1])
    assert state.generation > generation
    assert _snapshot(state) == before


def test_deletes_remove_entities_and_their_hash() -> None:
    state = ControlState()
    state.load([key("k1"), key("k2", team_id="t1"), team("t1")])
    state.apply(wrap(KeyDeleted(key_id="k1", before=key("k1"))))
    state.apply(wrap(TeamDeleted(team_id="t1", before=team("t1"))))
    assert state.key("k1") is None and state.key_by_hash("hash-k1") is None
    assert state.team("t1") is None
    assert [k.key_id for k in state.all_keys()] == ["k2"]


def test_other_events_are_not_applied() -> None:
    state = ControlState()
    completed = RequestCompleted(key_id="k1", endpoint="chat", model_requested="m",
                                 deployment="p/m", provider="p", model="m", latency_ms=1.0)
    assert not state.apply(EventEnvelope.wrap(completed, actor="key:k1", request_id="r1"))
    foreign = EventEnvelope(id=wrap(KeyDeleted(key_id="x")).id, type="admin.thing.happened",
                            version=1, occurred_at=T0, actor="admin")
    assert not state.apply(foreign)
    assert state.generation == 0


def test_a_key_org_is_its_own_or_its_team_or_its_user() -> None:
    state = ControlState()
    state.load([team("t1", org_id="o-team"), user("u1", org_id="o-user")])
    assert state.key_org_id(key("a", org_id="o-key", team_id="t1")) == "o-key"
    assert state.key_org_id(key("b", team_id="t1", user_id="u1")) == "o-team"
    assert state.key_org_id(key("c", user_id="u1")) == "o-user"
    assert state.key_org_id(key("d")) is None


def test_a_late_event_never_undoes_a_newer_one() -> None:
    state = ControlState()
    k0 = key("k1")
    unblocked = msgspec.structs.replace(k0, revision=1)
    blocked = msgspec.structs.replace(k0, blocked=True, revision=2)
    state.load([k0])
    # the local instance applied "unblock" then "block"; the bus echoes "unblock" late
    state.apply(wrap(KeyBlocked(key_id="k1", before=unblocked, after=blocked)))
    assert not state.apply_outcome(
        KeyUpdated(key_id="k1", before=k0, after=unblocked).outcome(T0))
    assert state.key("k1") == blocked
    # a deletion is a tombstone: an older update arriving after it does not resurrect the key
    state.apply(wrap(KeyDeleted(key_id="k1", before=blocked)))
    assert not state.apply_outcome(KeyBlocked(key_id="k1", before=k0, after=blocked).outcome(T0))
    assert state.key("k1") is None and state.key_by_hash("hash-k1") is None
    assert state.next_revision("key", "k1") == 4  # a re-created entity outranks its tombstone
    # equal revisions (two instances changed the same entity at once): the later one wins
    state.load([user("u1")])
    first = msgspec.structs.replace(user("u1"), user_alias="a", revision=1)
    second = msgspec.structs.replace(user("u1"), user_alias="b", revision=1)
    state.apply(wrap(UserUpdated(user_id="u1", before=user("u1"), after=first)))
    state.apply(wrap(UserUpdated(user_id="u1", before=user("u1"), after=second)))
    assert state.user("u1") == second

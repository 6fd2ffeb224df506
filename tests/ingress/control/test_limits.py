"""``ControlState.limits_for``: one admission ``Limit`` per limited scope on the caller's path."""

from __future__ import annotations

import msgspec

from ingress.admission import Limit, parse_budget_duration
from ingress.auth import KeyRegistry
from ingress.control import ControlState
from schemas.events import EndUserState, OrgMember, UserUpdated
from tests.ingress.control.factories import T0, key, limits, org, team, user, wrap


def _setup() -> tuple[ControlState, KeyRegistry]:
    state = ControlState()
    o1 = org("o1", limits=limits(max_budget_micros=100_000_000, budget_duration="1mo"))
    o1 = msgspec.structs.replace(o1, members=[OrgMember(user_id="u1", max_budget_micros=5_000_000)])
    state.load([
        o1,
        team("t1", org_id="o1", limits=limits(rpm_limit=600, tpm_limit=100_000)),
        user("u1", org_id="o1", limits=limits(max_parallel_requests=4)),
        key("k1", team_id="t1", user_id="u1", limits=limits(
            max_budget_micros=2_000_000, soft_budget_micros=1_500_000, budget_duration="1d",
            rpm_limit=10, model_max_budget_micros={"gpt-4o": 1_000_000},
            model_budget_duration={"gpt-4o": "7d"}, model_rpm_limit={"gpt-4o": 3})),
        key("plain"),
        EndUserState(end_user_id="bob", created_at=T0, limits=limits(max_budget_micros=250_000)),
    ])
    return state, KeyRegistry(b"secret", None, state)


def _caller(registry: KeyRegistry, key_id: str):  # type: ignore[no-untyped-def]  # a Caller
    found = registry.state.key(key_id)
    assert found is not None
    return registry._resolve(found)


def test_every_scope_on_the_path_in_admission_order() -> None:
    state, registry = _setup()
    found = state.limits_for(_caller(registry, "k1"), "gpt-4o", end_user="bob")
    assert list(found) == [
        Limit(scope="key:k1", rpm=10, max_budget_micros=2_000_000, soft_budget_micros=1_500_000,
              budget_duration=parse_budget_duration("1d"), budget_anchor=T0),
        Limit(scope="key:k1:model:gpt-4o", rpm=3, max_budget_micros=1_000_000,
              budget_duration=parse_budget_duration("7d"), budget_anchor=T0),
        Limit(scope="user:u1", max_parallel=4, budget_anchor=T0),
        Limit(scope="team:t1", rpm=600, tpm=100_000, budget_anchor=T0),
        Limit(scope="orgmember:o1:u1", max_budget_micros=5_000_000,
              budget_duration=parse_budget_duration("1mo"), budget_anchor=T0),
        Limit(scope="org:o1", max_budget_micros=100_000_000,
              budget_duration=parse_budget_duration("1mo"), budget_anchor=T0),
        Limit(scope="enduser:bob", max_budget_micros=250_000, budget_anchor=T0),
    ]
    other_model = [limit.scope for limit in state.limits_for(_caller(registry, "k1"), "claude")]
    assert other_model == ["key:k1", "user:u1", "team:t1", "orgmember:o1:u1", "org:o1"]


def test_unlimited_callers_get_no_limits_but_end_users_still_count() -> None:
    state, registry = _setup()
    assert state.limits_for(_caller(registry, "plain"), "gpt-4o") == ()
    scopes = [lim.scope for lim in state.limits_for(_caller(registry, "plain"), "x", "bob")]
    assert scopes == ["enduser:bob"]


def test_a_change_replaces_the_cached_limits_even_for_a_caller_resolved_before() -> None:
    state, registry = _setup()
    caller = _caller(registry, "k1")
    assert state.limits_for(caller, "claude")[1] == Limit(scope="user:u1", max_parallel=4,
                                                         budget_anchor=T0)
    u1 = state.user("u1")
    assert u1 is not None
    changed = msgspec.structs.replace(u1, limits=limits(max_parallel_requests=1))
    state.apply(wrap(UserUpdated(user_id="u1", before=u1, after=changed)))
    assert state.limits_for(caller, "claude")[1] == Limit(scope="user:u1", max_parallel=1,
                                                        budget_anchor=T0)

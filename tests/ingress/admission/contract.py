"""The admission contract, written once and run against every backend.

A subclass provides the ``pair`` fixture: two admission objects that share limits the way two
ingress instances of that mode do. For standalone (one process) both are the same object; for
Redis they are two instances with separate connection pools on the same Redis. Half of every
batch of concurrent requests goes to each, so "exactly N" is proven across instances.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ingress.admission import (
    Admission,
    AdmissionRequest,
    AdmissionResult,
    Limit,
    RefusalKind,
    parse_budget_duration,
)
from schemas.errors import BudgetExceeded, RateLimited

Pair = tuple[Admission, Admission]

NOW = datetime(2030, 6, 10, 12, 0, 5, tzinfo=UTC)
"""A fixed instant 5 s into a rate window; every test passes time explicitly."""
CREATED = datetime(2030, 1, 1, 9, 30, tzinfo=UTC)
DAY = parse_budget_duration("1d")


def budget(scope: str, max_micros: int | None, **extra: object) -> Limit:
    return Limit(
        scope, max_budget_micros=max_micros, budget_duration=DAY, budget_anchor=CREATED, **extra
    )  # type: ignore[arg-type]  # (test shorthand)


def plan(*limits: Limit, tokens: int = 0, cost: int = 0) -> AdmissionRequest:
    return AdmissionRequest(tuple(limits), estimated_tokens=tokens, reserved_cost_micros=cost)


async def admit_many(
    pair: Pair, request: AdmissionRequest, count: int, now: datetime = NOW
) -> list[AdmissionResult]:
    """``count`` concurrent admissions, alternating between the two instances."""
    return list(await asyncio.gather(*(pair[i % 2].admit(request, now) for i in range(count))))


def allowed(results: list[AdmissionResult]) -> list[AdmissionResult]:
    return [result for result in results if result.is_allowed]


async def settle_all(
    pair: Pair, results: list[AdmissionResult], cost: int, tokens: int = 0, now: datetime = NOW
) -> None:
    for i, result in enumerate(allowed(results)):
        assert result.reservation is not None
        await pair[i % 2].settle(result.reservation, cost, tokens, now)


class AdmissionContract:
    """Every admission backend passes these; subclasses only provide the ``pair`` fixture."""

    # -- budgets -------------------------------------------------------------------------------

    async def test_budget_admits_exactly_n_of_100_concurrent(self, pair: Pair) -> None:
        limit = budget("key:k1", 7 * 1_500)
        results = await admit_many(pair, plan(limit, cost=1_500), 100)
        assert len(allowed(results)) == 7
        refusals = [r.refusal for r in results if r.refusal is not None]
        assert len(refusals) == 93
        assert {(r.scope, r.kind, r.limit) for r in refusals} == {
            ("key:k1", RefusalKind.BUDGET, 10_500)
        }
        await settle_all(pair, results, 1_500)
        spend = await pair[1].budget_spend("key:k1", limit.budget_window_start(NOW))
        assert (spend.spent_micros, spend.reserved_micros) == (10_500, 0)

    async def test_concurrent_rounds_never_overspend(self, pair: Pair) -> None:
        limit = budget("team:t1", 10_000)
        start = limit.budget_window_start(NOW)
        spent = 0
        for _ in range(6):  # reserve 3000 each, actually spend 1000 each
            results = await admit_many(pair, plan(limit, cost=3_000), 50)
            assert len(allowed(results)) == (10_000 - spent) // 3_000
            during = await pair[0].budget_spend("team:t1", start)
            assert during.spent_micros + during.reserved_micros <= 10_000
            await settle_all(pair, results, 1_000)
            spent += 1_000 * len(allowed(results))
            after = await pair[1].budget_spend("team:t1", start)
            assert (after.spent_micros, after.reserved_micros) == (spent, 0)
        assert spent == 8_000

    async def test_settle_replaces_the_reservation_with_the_actual_cost(self, pair: Pair) -> None:
        limit = budget("key:k1", 1_000)
        first = await pair[0].admit(plan(limit, cost=600), NOW)
        assert first.reservation is not None
        assert not (await pair[1].admit(plan(limit, cost=600), NOW)).is_allowed
        await pair[0].settle(first.reservation, 100, 0, NOW)
        spend = await pair[1].budget_spend("key:k1", limit.budget_window_start(NOW))
        assert (spend.spent_micros, spend.reserved_micros) == (100, 0)
        assert (await pair[1].admit(plan(limit, cost=600), NOW)).is_allowed
        assert not (await pair[0].admit(plan(limit, cost=301), NOW)).is_allowed

    async def test_large_amounts_stay_exact(self, pair: Pair) -> None:
        cost = 3 * 10**14 + 1  # 300 million dollars and one micro-dollar
        limit = budget("org:big", 10**15 + 7, soft_budget_micros=6 * 10**14)
        results = await admit_many(pair, plan(limit, cost=cost), 10)
        assert len(allowed(results)) == 3
        crossings = [c for r in results for c in r.soft_budget_crossings]
        assert [c.projected_spend_micros for c in crossings] == [2 * cost]
        await settle_all(pair, results, cost)
        spend = await pair[0].budget_spend("org:big", limit.budget_window_start(NOW))
        assert (spend.spent_micros, spend.reserved_micros) == (3 * cost, 0)

    async def test_settle_and_release_are_idempotent(self, pair: Pair) -> None:
        limit = budget("key:k1", 10_000)
        result = await pair[0].admit(plan(limit, cost=1_000), NOW)
        assert result.reservation is not None
        await pair[0].settle(result.reservation, 700, 0, NOW)
        await pair[0].settle(result.reservation, 700, 0, NOW)
        await pair[0].release(result.reservation)
        spend = await pair[0].budget_spend("key:k1", limit.budget_window_start(NOW))
        assert (spend.spent_micros, spend.reserved_micros) == (700, 0)

    async def test_release_returns_the_reservation(self, pair: Pair) -> None:
        limit = budget("key:k1", 1_000)
        result = await pair[0].admit(plan(limit, cost=1_000), NOW)
        assert result.reservation is not None
        assert not (await pair[1].admit(plan(limit, cost=1), NOW)).is_allowed
        await pair[0].release(result.reservation)
        spend = await pair[1].budget_spend("key:k1", limit.budget_window_start(NOW))
        assert (spend.spent_micros, spend.reserved_micros) == (0, 0)
        assert (await pair[1].admit(plan(limit, cost=1_000), NOW)).is_allowed

    async def test_next_window_admits_again_and_keeps_the_previous_spend(self, pair: Pair) -> None:
        limit = budget("user:u1", 1_000)
        day1 = datetime(2030, 6, 10, 10, 0, tzinfo=UTC)  # window 06-10 09:30 .. 06-11 09:30
        first = await pair[0].admit(plan(limit, cost=1_000), day1)
        assert first.reservation is not None
        await pair[0].settle(first.reservation, 1_000, 0, day1)
        late = datetime(2030, 6, 11, 9, 29, 59, tzinfo=UTC)
        refused = await pair[1].admit(plan(limit, cost=1), late)
        assert refused.refusal is not None and refused.refusal.kind is RefusalKind.BUDGET
        assert refused.refusal.retry_after_s == pytest.approx(1.0)
        day2 = datetime(2030, 6, 11, 9, 30, tzinfo=UTC)
        second = await pair[1].admit(plan(limit, cost=1_000), day2)
        assert second.reservation is not None
        await pair[1].settle(second.reservation, 400, 0, day2)
        previous = await pair[0].budget_spend("user:u1", datetime(2030, 6, 10, 9, 30, tzinfo=UTC))
        current = await pair[0].budget_spend("user:u1", day2)
        assert previous.spent_micros == 1_000
        assert current.spent_micros == 400

    async def test_calendar_month_budget_resets_on_the_first(self, pair: Pair) -> None:
        limit = Limit(
            "org:o1",
            max_budget_micros=500,
            budget_duration=parse_budget_duration("1mo"),
            budget_anchor=CREATED,
        )
        june = datetime(2030, 6, 30, 23, 59, tzinfo=UTC)
        result = await pair[0].admit(plan(limit, cost=500), june)
        assert result.reservation is not None
        await pair[0].settle(result.reservation, 500, 0, june)
        assert not (await pair[1].admit(plan(limit, cost=1), june)).is_allowed
        july = datetime(2030, 7, 1, tzinfo=UTC)
        assert (await pair[1].admit(plan(limit, cost=500), july)).is_allowed
        spend = await pair[0].budget_spend("org:o1", datetime(2030, 6, 1, tzinfo=UTC))
        assert spend.spent_micros == 500

    async def test_late_settle_counts_in_the_admission_window(self, pair: Pair) -> None:
        limit = budget("key:k1", 10_000)
        before = datetime(2030, 6, 11, 9, 29, 59, tzinfo=UTC)
        after = datetime(2030, 6, 11, 9, 30, 30, tzinfo=UTC)
        result = await pair[0].admit(plan(limit, cost=2_000), before)
        assert result.reservation is not None
        await pair[1].settle(result.reservation, 1_500, 0, after)
        old = await pair[0].budget_spend("key:k1", datetime(2030, 6, 10, 9, 30, tzinfo=UTC))
        new = await pair[0].budget_spend("key:k1", datetime(2030, 6, 11, 9, 30, tzinfo=UTC))
        assert (old.spent_micros, old.reserved_micros) == (1_500, 0)
        assert (new.spent_micros, new.reserved_micros) == (0, 0)

    async def test_lifetime_budget_spans_all_time(self, pair: Pair) -> None:
        limit = Limit("key:life", max_budget_micros=1_000)
        result = await pair[0].admit(plan(limit, cost=1_000), NOW)
        assert result.reservation is not None
        await pair[0].settle(result.reservation, 1_000, 0, NOW)
        years_later = NOW + timedelta(days=3_000)
        refused = await pair[1].admit(plan(limit, cost=1), years_later)
        assert refused.refusal is not None and refused.refusal.retry_after_s is None

    async def test_soft_budget_crossing_is_reported_once_per_window(self, pair: Pair) -> None:
        limit = budget("team:t1", None, soft_budget_micros=1_500)
        reports = []
        for i in range(4):
            result = await pair[i % 2].admit(plan(limit, cost=1_000), NOW)
            assert result.reservation is not None
            reports.append(result.soft_budget_crossings)
            await pair[i % 2].settle(result.reservation, 1_000, 0, NOW)
        assert [len(r) for r in reports] == [0, 1, 0, 0]
        crossing = reports[1][0]
        assert crossing.scope == "team:t1"
        assert crossing.window_start == datetime(2030, 6, 10, 9, 30, tzinfo=UTC)
        assert (crossing.soft_budget_micros, crossing.projected_spend_micros) == (1_500, 2_000)
        next_day = NOW + timedelta(days=1)
        again = [await pair[0].admit(plan(limit, cost=1_000), next_day) for _ in range(3)]
        assert [len(r.soft_budget_crossings) for r in again] == [0, 1, 0]

    async def test_soft_budget_crossing_reported_once_under_concurrency(self, pair: Pair) -> None:
        limit = budget("team:t1", None, soft_budget_micros=5_000)
        results = await admit_many(pair, plan(limit, cost=1_000), 20)
        assert len(allowed(results)) == 20
        assert sum(len(r.soft_budget_crossings) for r in results) == 1

    async def test_seed_spend_is_set_if_greater(self, pair: Pair) -> None:
        limit = budget("key:k1", 6_000)
        start = limit.budget_window_start(NOW)
        await pair[0].seed_spend("key:k1", start, 5_000)
        await pair[1].seed_spend("key:k1", start, 3_000)
        await pair[0].seed_spend("key:k1", start, 5_000)
        assert (await pair[1].budget_spend("key:k1", start)).spent_micros == 5_000
        results = await admit_many(pair, plan(limit, cost=1_000), 4)
        assert len(allowed(results)) == 1
        await settle_all(pair, results, 1_000)
        await pair[0].seed_spend("key:k1", start, 5_500)
        assert (await pair[1].budget_spend("key:k1", start)).spent_micros == 6_000

    async def test_budget_reservation_expires_when_never_settled(self, pair: Pair) -> None:
        limit = budget("key:k1", 1_000)
        assert (await pair[0].admit(plan(limit, cost=1_000), NOW)).is_allowed
        assert not (
            await pair[1].admit(plan(limit, cost=1_000), NOW + timedelta(minutes=5))
        ).is_allowed
        later = NOW + timedelta(minutes=16)  # past the 900 s lease, same budget window
        assert (await pair[1].admit(plan(limit, cost=1_000), later)).is_allowed

    # -- rate limits ---------------------------------------------------------------------------

    async def test_rpm_allows_exactly_r_per_window(self, pair: Pair) -> None:
        limit = Limit("key:k1", rpm=5)
        results = await admit_many(pair, plan(limit), 40)
        assert len(allowed(results)) == 5
        refusal = next(r.refusal for r in results if r.refusal is not None)
        assert (refusal.scope, refusal.kind, refusal.limit) == ("key:k1", RefusalKind.RPM, 5)
        assert refusal.retry_after_s == pytest.approx(55.0)
        end_of_window = NOW + timedelta(seconds=54)
        assert not allowed(await admit_many(pair, plan(limit), 10, end_of_window))
        next_window = NOW + timedelta(seconds=55)
        assert len(allowed(await admit_many(pair, plan(limit), 40, next_window))) == 5

    async def test_refused_requests_do_not_count_against_rpm(self, pair: Pair) -> None:
        key = Limit("key:k1", rpm=3)
        broke = budget("team:t1", 0)
        assert not allowed(await admit_many(pair, plan(key, broke, cost=1), 10))
        assert len(allowed(await admit_many(pair, plan(key), 10))) == 3

    async def test_tpm_reserves_the_estimate_and_settles_the_difference(self, pair: Pair) -> None:
        limit = Limit("key:k1", tpm=1_000)
        results = await admit_many(pair, plan(limit, tokens=300), 10)
        assert len(allowed(results)) == 3
        refused = next(r for r in results if not r.is_allowed)
        assert refused.refusal is not None and refused.refusal.kind is RefusalKind.TPM
        assert refused.rate.remaining_tokens == 100
        first = allowed(results)[0].reservation
        assert first is not None
        await pair[1].settle(first, 0, 100, NOW)  # used 100 of the 300 it reserved
        fourth = await pair[0].admit(plan(limit, tokens=300), NOW)
        assert fourth.is_allowed
        assert fourth.rate.remaining_tokens == 0
        assert not (await pair[1].admit(plan(limit, tokens=1), NOW)).is_allowed

    async def test_tpm_settle_can_charge_more_than_reserved(self, pair: Pair) -> None:
        limit = Limit("key:k1", tpm=1_000)
        first = await pair[0].admit(plan(limit, tokens=100), NOW)
        assert first.reservation is not None
        await pair[0].settle(first.reservation, 0, 950, NOW)
        refused = await pair[1].admit(plan(limit, tokens=100), NOW)
        assert refused.refusal is not None and refused.refusal.kind is RefusalKind.TPM
        assert refused.rate.remaining_tokens == 50

    async def test_empty_token_window_admits_one_oversized_request(self, pair: Pair) -> None:
        limit = Limit("key:k1", tpm=1_000)
        results = await admit_many(pair, plan(limit, tokens=5_000), 6)
        assert len(allowed(results)) == 1

    async def test_max_parallel_holds_slots_until_settled(self, pair: Pair) -> None:
        limit = Limit("key:k1", max_parallel=2)
        results = await admit_many(pair, plan(limit), 10)
        assert len(allowed(results)) == 2
        refusal = next(r.refusal for r in results if r.refusal is not None)
        assert refusal.kind is RefusalKind.MAX_PARALLEL
        first, second = (r.reservation for r in allowed(results))
        assert first is not None and second is not None
        await pair[1].settle(first, 0, 0, NOW)
        assert len(allowed(await admit_many(pair, plan(limit), 10))) == 1
        await pair[0].release(second)
        assert len(allowed(await admit_many(pair, plan(limit), 10))) == 1

    async def test_max_parallel_slot_expires_when_never_settled(self, pair: Pair) -> None:
        limit = Limit("key:k1", max_parallel=1)
        assert (await pair[0].admit(plan(limit), NOW)).is_allowed
        assert not (await pair[1].admit(plan(limit), NOW + timedelta(minutes=10))).is_allowed
        assert (await pair[1].admit(plan(limit), NOW + timedelta(minutes=16))).is_allowed

    # -- all limits together -------------------------------------------------------------------

    async def test_all_or_nothing_across_scopes(self, pair: Pair) -> None:
        key = Limit("key:k1", rpm=10, tpm=10_000, max_parallel=5)
        team = budget("team:t1", 1_000)
        first = await pair[0].admit(plan(key, team, tokens=100, cost=600), NOW)
        assert first.is_allowed
        second = await pair[1].admit(plan(key, team, tokens=100, cost=600), NOW)
        assert second.refusal is not None
        assert (second.refusal.scope, second.refusal.kind) == ("team:t1", RefusalKind.BUDGET)
        # The refused request took no request, token or slot from the key.
        assert second.rate.remaining_requests == 9
        assert second.rate.remaining_tokens == 9_900
        results = await admit_many(pair, plan(key, tokens=100), 20)
        assert len(allowed(results)) == 4  # max_parallel 5, one still held by the first request

    async def test_first_refusal_follows_the_order_of_the_limits(self, pair: Pair) -> None:
        user, key = Limit("user:u1", rpm=1), Limit("key:k1", rpm=1)
        assert (await pair[0].admit(plan(user, key), NOW)).is_allowed
        result = await pair[1].admit(plan(key, user), NOW)
        assert result.refusal is not None and result.refusal.scope == "key:k1"

    async def test_headers_report_the_tightest_limits(self, pair: Pair) -> None:
        key = Limit("key:k1", rpm=100, tpm=5_000)
        team = Limit("team:t1", rpm=10, tpm=50_000)
        result = await pair[0].admit(plan(key, team, tokens=1_000), NOW)
        assert result.headers() == {
            "x-ratelimit-limit-requests": "10",
            "x-ratelimit-remaining-requests": "9",
            "x-ratelimit-reset-requests": "55s",
            "x-ratelimit-limit-tokens": "5000",
            "x-ratelimit-remaining-tokens": "4000",
            "x-ratelimit-reset-tokens": "55s",
        }

    async def test_refusals_become_the_errors_clients_see(self, pair: Pair) -> None:
        limited = Limit("key:k1", rpm=1)
        assert (await pair[0].admit(plan(limited), NOW)).is_allowed
        rate_error = (await pair[1].admit(plan(limited), NOW)).to_error()
        assert isinstance(rate_error, RateLimited)
        assert (rate_error.status, rate_error.headers["Retry-After"]) == (429, "55")
        assert rate_error.headers["x-ratelimit-remaining-requests"] == "0"
        budget_error = (await pair[0].admit(plan(budget("key:k2", 0), cost=1), NOW)).to_error()
        assert isinstance(budget_error, BudgetExceeded)
        assert (budget_error.status, budget_error.code) == (429, "insufficient_quota")
        assert budget_error.headers["x-should-retry"] == "false"

    async def test_a_request_without_limits_is_admitted(self, pair: Pair) -> None:
        result = await pair[0].admit(plan(tokens=10, cost=10), NOW)
        assert result.reservation is not None and result.headers() == {}
        await pair[0].settle(result.reservation, 5, 5, NOW)
        assert not pair[0].is_degraded

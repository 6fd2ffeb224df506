"""The price book: bundled table, overrides, exact integer micro-dollars."""

from __future__ import annotations

from decimal import Decimal

from router_engine.deployment import Deployment
from router_engine.pricing import CONFIG_PRICE_VERSION, Cost, PriceBook, Rates
from schemas.config import ProviderConfig
from schemas.token_usage import TokenUsage

BOOK = PriceBook.from_bundled()


def deployment(model: str, provider_type: str = "openai", **overrides: Decimal) -> Deployment:
    provider = ProviderConfig(name="p", type=provider_type, models=[model])
    return Deployment(id=f"p/{model}", model_group=model, upstream_model=model, provider=provider,
                      **overrides)  # type: ignore[arg-type]


def test_bundled_table_is_versioned() -> None:
    assert BOOK.version == "2026-11-01"
    assert BOOK.table_rates("gpt-4o") == Rates(Decimal("2.50"), Decimal("10.00"), Decimal("1.25"))


def test_exact_micros_for_gpt_4o() -> None:
    usage = TokenUsage(prompt_tokens=1000, completion_tokens=500)
    # 1000 * 2.50 + 500 * 10.00 = 7500 micro-dollars
    assert BOOK.price(deployment("gpt-4o"), usage) == Cost(7500, "2026-11-01", True)


def test_cached_tokens_use_the_cached_price_and_round_once() -> None:
    usage = TokenUsage(prompt_tokens=1200, completion_tokens=530, cached_tokens=1024,
                       reasoning_tokens=512)
    # o3-mini: 176 * 1.10 + 1024 * 0.55 + 530 * 4.40 = 193.6 + 563.2 + 2332.0 = 3088.8 -> 3089
    assert BOOK.price(deployment("o3-mini"), usage).cost_micros == 3089


def test_half_even_rounding_of_sub_micro_costs() -> None:
    # gpt-4o-mini input is 0.15 micros per token: 10 tokens = 1.5 -> 2, 30 tokens = 4.5 -> 4.
    mini = deployment("gpt-4o-mini")
    assert BOOK.price(mini, TokenUsage(prompt_tokens=10)).cost_micros == 2
    assert BOOK.price(mini, TokenUsage(prompt_tokens=30)).cost_micros == 4


def test_dated_and_prefixed_names_find_their_family() -> None:
    usage = TokenUsage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    assert BOOK.price(deployment("gpt-4o-2024-08-06"), usage).cost_micros == 12_500_000
    assert BOOK.price(deployment("claude-3-5-sonnet-20241022"), usage).cost_micros == 18_000_000
    assert BOOK.price(deployment("openrouter/gpt-4o-mini"), usage).cost_micros == 750_000
    assert BOOK.price(deployment("gemini-1.5-pro-002"), usage).cost_micros == 6_250_000


def test_config_overrides_win_field_by_field() -> None:
    usage = TokenUsage(prompt_tokens=1000, completion_tokens=1000)
    custom = deployment("gpt-4o", input_cost_per_mtok=Decimal("1"))
    # input from config (1), output from the table (10)
    assert BOOK.price(custom, usage) == Cost(11_000, CONFIG_PRICE_VERSION, True)
    private = deployment("my-finetune", input_cost_per_mtok=Decimal("0.5"),
                         output_cost_per_mtok=Decimal("2"))
    assert BOOK.price(private, usage) == Cost(2500, CONFIG_PRICE_VERSION, True)


def test_unknown_model_costs_zero_and_says_so() -> None:
    cost = BOOK.price(deployment("llama-3-70b-local", "vllm"), TokenUsage(prompt_tokens=99))
    assert cost == Cost(0, "2026-11-01", False)
    half = deployment("llama-3-70b-local", "vllm", input_cost_per_mtok=Decimal("1"))
    assert not BOOK.price(half, TokenUsage(prompt_tokens=99)).price_known


def test_mock_provider_prices_like_gpt_4o_mini() -> None:
    usage = TokenUsage(prompt_tokens=100, completion_tokens=100)
    assert BOOK.price(deployment("anything", "mock"), usage) == BOOK.price(
        deployment("gpt-4o-mini"), usage)
    assert BOOK.price(deployment("anything", "mock"), usage).price_known


def test_book_from_json_never_uses_floats() -> None:
    book = PriceBook.from_json(b'{"version": "t1", "models": {"m": {"input": "0.1", '
                               b'"output": 0.3}}}')
    rates = book.table_rates("m")
    assert rates == Rates(Decimal("0.1"), Decimal("0.3"), None)
    assert book.price(deployment("m"), TokenUsage(prompt_tokens=10, completion_tokens=10)
                      ) == Cost(4, "t1", True)


def test_io_rates_for_routing_by_cost() -> None:
    assert BOOK.io_rates(deployment("gpt-4o-mini")) == (Decimal("0.15"), Decimal("0.60"))
    assert BOOK.io_rates(deployment("unknown-model", "vllm")) is None


def test_deployments_of_one_model_keep_their_own_prices_however_often_priced() -> None:
    book = PriceBook.from_bundled()
    usage = TokenUsage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    plain = deployment("gpt-4o")
    cheaper = deployment("gpt-4o", input_cost_per_mtok=Decimal("1"))
    mocked = deployment("no-such-model", "mock")  # the mock provider's default: gpt-4o-mini
    for _ in range(2):
        assert book.price(plain, usage) == Cost(12_500_000, "2026-11-01", True)
        assert book.price(cheaper, usage) == Cost(11_000_000, CONFIG_PRICE_VERSION, True)
        assert book.price(mocked, usage) == Cost(750_000, "2026-11-01", True)
        assert book.price(deployment("no-such-model"), usage) == Cost(0, "2026-11-01", False)

from decimal import Decimal

from schemas.money import cost_micros, format_usd, usd_to_micros


def test_price_per_million_is_micros_per_token() -> None:
    assert cost_micros((1_000_000, Decimal("2.50"))) == 2_500_000
    assert cost_micros((3, Decimal("2.5")), (2, Decimal("10"))) == 28  # 7.5 + 20 → 27.5 → 28


def test_rounds_once_half_even() -> None:
    assert cost_micros((1, Decimal("0.5"))) == 0
    assert cost_micros((3, Decimal("0.5"))) == 2
    assert cost_micros((1, Decimal("0.25")), (1, Decimal("0.25"))) == 0


def test_usd_formatting() -> None:
    assert format_usd(1_234_567) == "1.234567"
    assert format_usd(5) == "0.000005"
    assert format_usd(-5) == "-0.000005"
    assert usd_to_micros("12.5") == 12_500_000

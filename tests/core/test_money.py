"""Money: integer minor units, one currency at a time, formatted by Babel."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revline.money import CurrencyMismatch, Money, to_minor_units, total


def test_arithmetic_stays_in_minor_units() -> None:
    assert Money(1250000, "usd") + Money(30, "USD") == Money(1250030, "USD")
    assert Money(500, "usd") - Money(1240, "usd") == Money(-740, "usd")
    assert -Money(5, "eur") == Money(-5, "EUR")
    assert Money(500, "usd") > Money(499, "usd")


def test_mixing_currencies_raises() -> None:
    with pytest.raises(CurrencyMismatch, match="USD with EUR"):
        Money(1, "usd") + Money(1, "eur")
    with pytest.raises(CurrencyMismatch):
        _ = Money(1, "usd") < Money(1, "gbp")
    with pytest.raises(CurrencyMismatch):
        total([Money(1, "usd"), Money(1, "eur")], "usd")


@pytest.mark.parametrize("bad", [12.5, Decimal("12.50"), "1250", True])
def test_only_integers_are_money(bad: object) -> None:
    with pytest.raises(TypeError, match="minor units"):
        Money(bad, "usd")  # type: ignore[arg-type]


def test_currency_code_is_checked() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(1, "dollars")


@pytest.mark.parametrize(
    ("money", "locale", "text"),
    [
        (Money(1420000, "usd"), "en_US", "$14,200.00"),
        (Money(1240, "usd"), "en_US", "$12.40"),
        (Money(-500, "usd"), "en_US", "-$5.00"),
        (Money(120000, "eur"), "de_DE", "1.200,00\xa0€"),
        (Money(1200, "jpy"), "ja_JP", "￥1,200"),  # yen has no minor unit
        (Money(99, "gbp"), "en_GB", "£0.99"),
    ],
)
def test_formatting_for_people(money: Money, locale: str, text: str) -> None:
    assert money.format(locale) == text


@given(st.lists(st.integers(min_value=-(10**12), max_value=10**12), max_size=50))
def test_total_is_exact(amounts: list[int]) -> None:
    assert total([Money(a, "usd") for a in amounts], "usd") == Money(sum(amounts), "usd")


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [
        (Decimal("12500.50"), "usd", 1_250_050),
        (1200, "JPY", 1_200),
        (Decimal("12.345"), "KWD", 12_345),
        (Decimal("-0.07"), "EUR", -7),
    ],
)
def test_major_units_become_minor_units_exactly(
    major: Decimal | int, currency: str, minor: int
) -> None:
    assert to_minor_units(major, currency) == minor
    assert Money(minor, currency).decimal == Decimal(major)


@pytest.mark.parametrize("major", [Decimal("0.005"), Decimal("NaN"), Decimal("Infinity")])
def test_a_fraction_of_a_minor_unit_is_refused(major: Decimal) -> None:
    with pytest.raises(ValueError, match="not a whole number of minor units"):
        to_minor_units(major, "USD")


@pytest.mark.parametrize(
    ("minor", "currency", "major"),
    [
        (50_000, "ISK", Decimal("500")),  # Stripe keeps ISK at two decimals; ISO has none
        (1_045, "HUF", Decimal("10.45")),  # CLDR gives HUF no decimals; Stripe two
        (150_000, "IDR", Decimal("1500")),
        (1_200, "MGA", Decimal("1200")),  # ISO has two; Stripe none
        (1_200, "UGX", Decimal("1200")),
        (12_345, "IQD", Decimal("12.345")),
    ],
)
def test_minor_units_are_stripes(minor: int, currency: str, major: Decimal) -> None:
    assert Money(minor, currency).decimal == major
    assert to_minor_units(major, currency) == minor


@pytest.mark.parametrize(
    ("money", "locale", "text"),
    [
        (Money(50_000, "isk"), "en_US", "ISK500"),
        (Money(1_045, "huf"), "en_US", "HUF10.45"),  # a fraction CLDR would round away is shown
        (Money(100_050, "huf"), "en_US", "HUF1,000.50"),  # with every digit of the minor unit
        (Money(1_010, "isk"), "de_DE", "10,10\xa0ISK"),
        (Money(-123_450, "idr"), "en_US", "-IDR1,234.50"),
        (Money(1_000, "huf"), "en_US", "HUF10"),
        (Money(100_050, "huf"), "hu_HU", "1\xa0000,50\xa0Ft"),
    ],
)
def test_a_currency_babel_rounds_is_formatted_in_full(money: Money, locale: str, text: str) -> None:
    assert money.format(locale) == text

"""Option series names (ccxt and native), the IV smile and its clamp and staleness."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.options.series import (
    OptionSeries,
    SymbolError,
    expiry_ts_of,
    parse_symbol,
)
from clearing.options.surface import IVSurface, Smile, SurfaceParams


def test_names_of_the_issue_example() -> None:
    s = OptionSeries("BTC", expiry_ts_of(2026, 12, 25), 60_000, "C")
    assert s.ccxt_symbol == "BTC/USD:USD-261225-60000-C"
    assert s.native_name == "BTC-25DEC26-60000-C"
    assert parse_symbol("BTC/USD:USD-261225-60000-C") == s
    assert parse_symbol("BTC-25DEC26-60000-C") == s
    assert s.expiry_ts == 1_798_185_600_000_000_000  # 2026-12-25 08:00 UTC


def test_native_day_has_no_leading_zero_and_decimals_are_kept() -> None:
    s = OptionSeries("ETH", expiry_ts_of(2027, 1, 5), 25_005, "P", price_decimals=1)
    assert s.native_name == "ETH-5JAN27-2500.5-P"
    assert s.ccxt_symbol == "ETH/USD:USD-270105-2500.5-P"
    assert parse_symbol(s.native_name, price_decimals=1) == s


@pytest.mark.parametrize("bad", ["BTC-25DEC26-60000-X", "BTC-32DEC26-60000-C",
                                 "BTC-25DEK26-60000-C", "BTC/USD:USD-261325-60000-C",
                                 "BTC-25DEC26-0-C", "BTC-25DEC26-1.5-C", "", "BTC"])
def test_bad_names_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(SymbolError):
        parse_symbol(bad)


@given(st.dates(min_value=__import__("datetime").date(2001, 1, 1),
                max_value=__import__("datetime").date(2099, 12, 31)),
       st.integers(1, 10**9), st.sampled_from("CP"), st.integers(0, 3))
def test_names_round_trip(day: object, strike: int, kind: str, dec: int) -> None:
    s = OptionSeries("BTC", expiry_ts_of(day.year, day.month, day.day), strike, kind,  # type: ignore[attr-defined]
                     price_decimals=dec)
    assert parse_symbol(s.ccxt_symbol, price_decimals=dec) == s
    assert parse_symbol(s.native_name, price_decimals=dec) == s


def test_smile_shape_and_clamp() -> None:
    surf = IVSurface(SurfaceParams(floor_ppm=200_000, cap_ppm=1_500_000, default_ppm=500_000))
    e1, e2 = 10, 20
    surf.update(e1, Smile(600_000, -100_000, 400_000, ts=5))
    F = np.array([100.0, 100.0, 100.0, 100.0, 100.0])
    K = np.array([100.0, 150.0, 50.0, 1e6, 100.0])
    exp = np.array([e1, e1, e1, e1, e2])
    vols = surf.vols(exp, K, F)
    for k_, v in zip(K[:3], vols[:3]):
        k = math.log(k_ / 100)
        assert v == pytest.approx(0.6 - 0.1 * k + 0.4 * k * k)
    assert vols[3] == 1.5  # far wing clamped to the cap
    assert vols[4] == 0.5  # an expiry without a smile: the flat default
    surf.update(e1, Smile(50_000, ts=6))
    assert surf.vols(exp[:1], K[:1], F[:1])[0] == 0.2  # clamped to the floor


def test_stale_policy() -> None:
    surf = IVSurface(SurfaceParams(stale_ns=100))
    assert surf.is_stale(7, 0)  # never fed
    surf.update(7, Smile(600_000, ts=1_000))
    assert not surf.is_stale(7, 1_100)
    assert surf.is_stale(7, 1_101)


def test_surface_params_are_checked() -> None:
    with pytest.raises(ValueError):
        SurfaceParams(floor_ppm=700_000, default_ppm=600_000)
    with pytest.raises(ValueError):
        SurfaceParams(stale_ns=0)

"""Implied vol: Black-76 inverted with brentq gives back the vol it priced with, and
premiums outside the no-arbitrage bounds have none (NaN)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.options.black76 import price
from clearing.options.implied import implied_vol, implied_vols, price_one


def test_scalar_price_matches_the_vectorised_kernel() -> None:
    for call in (True, False):
        assert math.isclose(price_one(60_000, 55_000, 0.25, 0.6, call),
                            float(price(60_000, 55_000, 0.25, 0.6, call)), rel_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.5, 2.0), st.floats(0.02, 2.0), st.floats(0.05, 2.5), st.booleans())
def test_round_trip(moneyness: float, T: float, sigma: float, call: bool) -> None:
    F, K = 60_000.0, 60_000.0 * moneyness
    p = float(price(F, K, T, sigma, call))
    intrinsic = max(F - K, 0.0) if call else max(K - F, 0.0)
    if p - intrinsic < 1e-6 * F:  # too little time value to tell vols apart
        return
    iv = implied_vol(p, F, K, T, call)
    assert math.isclose(iv, sigma, rel_tol=1e-5, abs_tol=1e-6)


def test_bounds_give_nan() -> None:
    F, K, T = 60_000.0, 50_000.0, 0.5
    assert math.isnan(implied_vol(10_000.0, F, K, T, True))  # at intrinsic
    assert math.isnan(implied_vol(9_000.0, F, K, T, True))  # below intrinsic
    assert math.isnan(implied_vol(60_000.0, F, K, T, True))  # a call worth the forward
    assert math.isnan(implied_vol(50_000.0, F, K, T, False))  # a put worth the strike
    assert math.isnan(implied_vol(0.0, F, K, T, False))
    assert math.isnan(implied_vol(100.0, F, K, 0.0, False))  # expired


def test_vectorised_over_a_chain() -> None:
    F = 60_000.0
    K = np.array([50_000.0, 60_000.0, 70_000.0, 60_000.0])
    call = np.array([True, True, True, False])
    sig = np.array([0.7, 0.6, 0.55, 0.6])
    p = price(F, K, 0.3, sig, call)
    got = implied_vols(p, F, K, 0.3, call)
    assert np.allclose(got, sig, rtol=1e-6)
    p2 = p.copy()
    p2[1] = np.nan
    p2[2] = 0.0
    got2 = implied_vols(p2, F, K, 0.3, call)
    assert np.isnan(got2[1]) and np.isnan(got2[2]) and np.allclose(got2[[0, 3]], sig[[0, 3]])

"""Black-76 (r = 0) against published textbook examples, parity and finite differences.

Textbook figures (the kernel has r = 0, so an example with a rate r is reproduced from
the kernel's undiscounted forward values through exact identities: a discounted Black-76
price is ``e^(-rT)`` times the r = 0 price on the same forward, and a Black-Scholes
option on a stock ``S`` is Black-76 on ``F = S·e^(rT)`` discounted):

- Hull, *Options, Futures, and Other Derivatives*, chapter "Futures options" (Black's
  model): European put on crude-oil futures, F = K = 20, T = 4 months, r = 9 %,
  sigma = 25 %  ->  1.12.
- Hull, chapter "The Black-Scholes-Merton model": S = 42, K = 40, T = 0.5, r = 10 %,
  sigma = 20 %  ->  call 4.76, put 0.81.
- Hull, chapter "The Greek letters" (the running example, 100,000 calls): S = 49,
  K = 50, r = 5 %, sigma = 20 %, T = 20 weeks = 0.3846  ->  call 2.40, delta 0.522,
  gamma 0.066, vega 12.1 (per 1.0 of vol), theta -4.31 per year.
- Haug, *The Complete Guide to Option Pricing Formulas* (2nd ed.), Black-76 example:
  Brent futures F = K = 19, T = 0.75, r = 10 %, sigma = 28 %  ->  call = put = 1.7011;
  futures-option delta example F = 105, K = 100, T = 0.5, r = 10 %, sigma = 36 %  ->
  call delta 0.5946, put delta -0.3566; gamma example S = 55, K = 60, T = 0.75,
  r = b = 10 %, sigma = 30 %  ->  0.0278.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clearing.options.black76 import MS_PER_YEAR, greeks, price, year_fraction


def _g(F: float, K: float, T: float, s: float, call: bool) -> tuple[float, ...]:
    g = greeks(F, K, T, s, call)
    return tuple(float(x) for x in g)


def test_hull_black_futures_put() -> None:
    p = _g(20, 20, 4 / 12, 0.25, False)[0] * math.exp(-0.09 * 4 / 12)
    assert round(p, 2) == 1.12


def test_hull_black_scholes_call_and_put() -> None:
    T, r = 0.5, 0.10
    F = 42 * math.exp(r * T)
    assert round(_g(F, 40, T, 0.2, True)[0] * math.exp(-r * T), 2) == 4.76
    assert round(_g(F, 40, T, 0.2, False)[0] * math.exp(-r * T), 2) == 0.81


def test_hull_greeks_running_example() -> None:
    S, K, r, s, T = 49.0, 50.0, 0.05, 0.20, 0.3846
    disc = math.exp(-r * T)
    F = S / disc
    value, delta, gamma, vega, theta = _g(F, K, T, s, True)
    c = value * disc
    assert round(c, 2) == 2.40
    assert round(delta, 3) == 0.522  # dC/dS = N(d1), the kernel's forward delta
    assert round(gamma / disc, 3) == 0.066  # d2C/dS2 = e^(rT) x the forward gamma
    assert round(vega * 100 * disc, 1) == 12.1  # kernel vega is per vol point
    # Black-Scholes theta = r·C - r·S·N(d1) + e^(-rT)·(forward theta per year)
    assert round(r * c - r * S * delta + disc * theta * 365, 2) == -4.31


def test_haug_black76_examples() -> None:
    disc = math.exp(-0.10 * 0.75)
    assert round(_g(19, 19, 0.75, 0.28, True)[0] * disc, 4) == 1.7011
    assert round(_g(19, 19, 0.75, 0.28, False)[0] * disc, 4) == 1.7011
    disc = math.exp(-0.10 * 0.5)  # futures option delta: e^(-rT)·N(d1)
    assert round(_g(105, 100, 0.5, 0.36, True)[1] * disc, 4) == 0.5946
    assert round(_g(105, 100, 0.5, 0.36, False)[1] * disc, 4) == -0.3566
    T, r = 0.75, 0.10  # stock gamma: e^(rT)·(forward gamma) on F = S·e^(rT)
    g = _g(55 * math.exp(r * T), 60, T, 0.30, True)[2]
    assert round(g * math.exp(r * T), 4) == 0.0278


def test_vectorised_over_a_chain_equals_one_by_one() -> None:
    F = np.array([100.0, 100.0, 120.0, 80.0])
    K = np.array([90.0, 110.0, 100.0, 100.0])
    T = np.array([0.1, 0.5, 1.0, 0.02])
    s = np.array([0.5, 0.3, 0.8, 1.2])
    c = np.array([True, False, True, False])
    chain = greeks(F, K, T, s, c)
    for i in range(4):
        one = _g(F[i], K[i], T[i], s[i], bool(c[i]))
        assert [float(x[i]) for x in chain] == pytest.approx(one, rel=1e-12, abs=1e-15)


def test_expired_or_zero_vol_is_intrinsic() -> None:
    g = greeks([100, 100, 100, 100], [90, 110, 90, 110], [0, 0, 0.5, 0.5], [0.5, 0.5, 0, 0],
               [True, False, False, True])
    assert g.price.tolist() == [10.0, 10.0, 0.0, 0.0]
    assert g.delta.tolist() == [1.0, -1.0, 0.0, 0.0]
    assert g.gamma.tolist() == g.vega.tolist() == g.theta.tolist() == [0.0] * 4


def test_year_fraction_act365_in_milliseconds() -> None:
    day_ns = 86_400_000_000_000
    assert year_fraction(365 * day_ns, 0) == 1.0
    assert year_fraction(10 * day_ns, 10 * day_ns + 5) == 0.0
    assert year_fraction(1_999_999, 0) == 1 / MS_PER_YEAR  # whole milliseconds only
    arr = year_fraction(np.array([365 * day_ns, 0]), 0)
    assert arr.tolist() == [1.0, 0.0]


_F = st.floats(50.0, 200_000.0)
_moneyness = st.floats(0.5, 2.0)
_T = st.floats(1 / 365, 2.0)
_vol = st.floats(0.05, 2.0)


@settings(max_examples=200, deadline=None)
@given(_F, _moneyness, _T, _vol)
def test_put_call_parity(F: float, mny: float, T: float, s: float) -> None:
    K = F * mny
    c, p = price([F, F], [K, K], [T, T], [s, s], [True, False]).tolist()
    assert c - p == pytest.approx(F - K, rel=1e-9, abs=1e-9 * F)


@settings(max_examples=200, deadline=None)
@given(_F, _moneyness, _T, _vol, st.booleans())
def test_each_greek_is_a_finite_difference_of_the_price(F: float, mny: float, T: float,
                                                        s: float, call: bool) -> None:
    # within 4 standard deviations of the money: further out the price is a few ulps and
    # a finite difference of it measures rounding, not the Greek
    assume(abs(math.log(mny)) < 4 * s * math.sqrt(T))
    K = F * mny
    g = _g(F, K, T, s, call)
    hF = F * s * T**0.5 * 1e-3  # a step small against the width of the distribution

    def v(f: float = F, t: float = T, vol: float = s) -> float:
        return float(price(f, K, t, vol, call))

    delta_fd = (v(F + hF) - v(F - hF)) / (2 * hF)
    hG = 10 * hF  # a second difference needs a wider step against rounding
    gamma_fd = (v(F + hG) - 2 * v() + v(F - hG)) / (hG * hG)
    vega_fd = (v(vol=s + 1e-4) - v(vol=s - 1e-4)) / 2e-4 / 100
    ht = T * 1e-4
    theta_fd = -(v(t=T + ht) - v(t=T - ht)) / (2 * ht) / 365
    assert g[1] == pytest.approx(delta_fd, abs=1e-6)
    assert g[2] == pytest.approx(gamma_fd, rel=1e-3, abs=1e-7 / F)
    assert g[3] == pytest.approx(vega_fd, rel=1e-5, abs=1e-7 * F)
    assert g[4] == pytest.approx(theta_fd, rel=1e-4, abs=1e-8 * F)

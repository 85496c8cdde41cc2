"""Implied volatility: the Black-76 vol that reprices an option at a given premium.

Used for the bid and ask IVs of the option tickers (market data and the
``query_option_chain`` records): the best bid and ask of a series are turned back into
volatilities with the same Black-76 (r = 0, on the forward) that marks it.

``implied_vols(price, F, K, T, is_call)`` works on whole arrays: the no-arbitrage bounds
are checked vectorised (a premium at or below the intrinsic value, or at or above the
forward for a call / the strike for a put, has no implied vol), and each remaining
premium is inverted with ``scipy.optimize.brentq`` on ``[VOL_MIN, VOL_MAX]`` with a
scalar Black-76 (``scipy.special.ndtr`` for N). Premiums a vol in that range cannot reach
give NaN too. Pure: no state, no clock.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

VOL_MIN = 1e-4
"""Lowest implied vol searched (0.01 %)."""
VOL_MAX = 10.0
"""Highest implied vol searched (1,000 %)."""
XTOL = 1e-8


def price_one(F: float, K: float, T: float, sigma: float, is_call: bool) -> float:
    """Black-76 value of one option (r = 0); the scalar twin of ``black76.price``."""
    sq = sigma * math.sqrt(T)
    d1 = (math.log(F / K) + 0.5 * sq * sq) / sq
    call = F * float(ndtr(d1)) - K * float(ndtr(d1 - sq))
    return call if is_call else call - F + K


def implied_vol(price: float, F: float, K: float, T: float, is_call: bool) -> float:
    """The vol that reprices one option at ``price``; NaN where there is none."""
    if not (price > 0 and F > 0 and K > 0 and T > 0) or not math.isfinite(price):
        return math.nan
    intrinsic = max(F - K, 0.0) if is_call else max(K - F, 0.0)
    upper = F if is_call else K
    if price <= intrinsic or price >= upper:
        return math.nan

    def f(s: float) -> float:
        return price_one(F, K, T, s, is_call) - price

    lo, hi = f(VOL_MIN), f(VOL_MAX)
    if lo > 0 or hi < 0:
        return math.nan
    return float(brentq(f, VOL_MIN, VOL_MAX, xtol=XTOL))


def implied_vols(price: object, F: object, K: object, T: object,
                 is_call: object) -> np.ndarray:  # fmt: skip
    """``implied_vol`` over arrays (broadcast); NaN where a premium has no implied vol."""
    p, f, k, t, c = np.broadcast_arrays(np.asarray(price, dtype=np.float64),
                                        np.asarray(F, dtype=np.float64),
                                        np.asarray(K, dtype=np.float64),
                                        np.asarray(T, dtype=np.float64),
                                        np.asarray(is_call, dtype=bool))  # fmt: skip
    out = np.full(p.shape, np.nan)
    with np.errstate(invalid="ignore"):
        intrinsic = np.where(c, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
        upper = np.where(c, f, k)
        ok = (np.isfinite(p) & (p > intrinsic) & (p < upper) & (f > 0) & (k > 0) & (t > 0))
    for i in zip(*np.nonzero(ok), strict=True):
        out[i] = implied_vol(float(p[i]), float(f[i]), float(k[i]), float(t[i]), bool(c[i]))
    return out


__all__ = ["VOL_MAX", "VOL_MIN", "implied_vol", "implied_vols", "price_one"]

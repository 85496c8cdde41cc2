"""Black-76 with r = 0 on the forward, vectorised with numpy over a whole chain.

For a forward ``F``, strike ``K``, year fraction ``T`` and volatility ``sigma`` (both > 0)::

    d1 = (ln(F/K) + sigma²T/2) / (sigma√T)          d2 = d1 - sigma√T
    call = F·N(d1) - K·N(d2)                put = K·N(-d2) - F·N(-d1)
    delta: call N(d1), put N(d1) - 1        gamma = n(d1) / (F·sigma·√T)
    vega  = F·n(d1)·√T / 100                (per 1 vol point)
    theta = -F·n(d1)·sigma / (2√T) / 365        (per calendar day)

``N`` is ``scipy.special.ndtr`` (the library normal CDF), ``n`` the normal density.
With no time or no volatility left (``T ≤ 0`` or ``sigma ≤ 0``) the value is the intrinsic
value, delta is 1 / -1 in the money and 0 otherwise, and gamma, vega and theta are 0.

``T`` is an ACT/365 year fraction of the milliseconds to expiry (``year_fraction``).
Prices and Greeks are in the forward's price units per one unit of underlying; money
conversion (and its rounding) happens in ``clearing.options.money``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import ndtr

MS_PER_YEAR = 365 * 86_400_000
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def year_fraction(expiry_ts: int | np.ndarray, now_ts: int) -> float | np.ndarray:
    """ACT/365 year fraction from ``now_ts`` to ``expiry_ts`` (ns), counted in whole ms."""
    if isinstance(expiry_ts, np.ndarray):
        ms = expiry_ts // 1_000_000 - now_ts // 1_000_000
        return np.maximum(ms, 0) / MS_PER_YEAR
    return max(expiry_ts // 1_000_000 - now_ts // 1_000_000, 0) / MS_PER_YEAR


class Greeks(NamedTuple):
    """Per-series arrays: value, delta, gamma, vega (per vol point), theta (per day)."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray


def _arrays(F: object, K: object, T: object, sigma: object, is_call: object) -> tuple:
    f, k, t, s, c = np.broadcast_arrays(np.asarray(F, dtype=np.float64),
                                        np.asarray(K, dtype=np.float64),
                                        np.asarray(T, dtype=np.float64),
                                        np.asarray(sigma, dtype=np.float64),
                                        np.asarray(is_call, dtype=bool))  # fmt: skip
    return f, k, t, s, c


def price(F: object, K: object, T: object, sigma: object, is_call: object) -> np.ndarray:
    """Black-76 value only (the scenario kernel's inner loop)."""
    F, K, T, sigma, call = _arrays(F, K, T, sigma, is_call)
    live = (T > 0) & (sigma > 0)
    sq = sigma * np.sqrt(np.where(live, T, 1.0))
    sq = np.where(live, sq, 1.0)
    d1 = (np.log(F / K) + 0.5 * sq * sq) / sq
    d2 = d1 - sq
    c = F * ndtr(d1) - K * ndtr(d2)
    p = c - F + K  # put-call parity with r = 0
    value = np.where(call, c, p)
    intrinsic = np.where(call, np.maximum(F - K, 0.0), np.maximum(K - F, 0.0))
    return np.maximum(np.where(live, value, intrinsic), 0.0)


def greeks(F: object, K: object, T: object, sigma: object, is_call: object) -> Greeks:
    """Value and Greeks for every series at once (see the module docstring)."""
    F, K, T, sigma, call = _arrays(F, K, T, sigma, is_call)
    live = (T > 0) & (sigma > 0)
    rt = np.sqrt(np.where(live, T, 1.0))
    sq = np.where(live, sigma * rt, 1.0)
    d1 = (np.log(F / K) + 0.5 * sq * sq) / sq
    d2 = d1 - sq
    nd1 = ndtr(d1)
    c = F * nd1 - K * ndtr(d2)
    value = np.where(call, c, c - F + K)
    dens = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    delta = np.where(call, nd1, nd1 - 1.0)
    gamma = dens / (F * sq)
    vega = F * dens * rt / 100.0
    theta = -F * dens * np.where(live, sigma, 0.0) / (2.0 * rt) / 365.0
    itm = np.where(call, F > K, F < K)
    intrinsic = np.where(call, np.maximum(F - K, 0.0), np.maximum(K - F, 0.0))
    zero = np.zeros_like(F)
    return Greeks(
        np.maximum(np.where(live, value, intrinsic), 0.0),
        np.where(live, delta, np.where(itm, np.where(call, 1.0, -1.0), 0.0)),
        np.where(live, gamma, zero),
        np.where(live, vega, zero),
        np.where(live, theta, zero),
    )

"""The portfolio-margin scenario grid and each instrument's scenario table.

Scenarios (Paradex-style; every number is config, these are the defaults): spot
±16 % (vol up only), ±12, ±8, ±4 and 0 % each with vol up and vol down, weight 1; tails
with vol up: -66 % (weight 0.24), -33 % (0.48), +50 % (0.32), +100 % (0.16), +200 %
(0.08), +300 % (0.16/3, rounded up to whole ppm), +400 % (0.04), +500 % (0.032).

Vol shocks are relative, scaled by time to expiry::

    sigma' = sigma · (1 + v · (30 / max(1, DTE))^p)      v = +0.40 (up) / -0.22 (down)
                                                  p = 0.30 if DTE < 30 else 0.13

``DTE = T·365`` (days, from the same ACT/365 clock as pricing); ``T`` itself is held
constant in every scenario. An option is revalued with Black-76 at ``F·(1 + shock)``
and ``sigma'`` (``F`` its forward); a perpetual or future moves 1:1 with the spot shock,
``P·(1 + shock)`` (``P`` its mark), so a future hedges an option on the same forward
exactly.

Tables are **per lot, in integer minor units, rounded against the holder**: the loss
of one lot held long in scenario s is ``-floor(ΔV_s·m)`` and of one lot held short
``ceil(ΔV_s·m)``, so any position's scenario loss (``q·loss_long`` or
``|q|·loss_short``) is rounded up. ``delta_lot = round(δ·F·m)`` (``P·m`` for a
perpetual or future) is the lot's money delta for a 100 % move, the one figure rounded
to nearest; MinDelta rounds up after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clearing.intmath import PPM
from clearing.options import black76
from clearing.options.money import lot_values

UP, DOWN = 1, -1

DEFAULT_SCENARIOS: tuple[tuple[int, int, int], ...] = (
    (160_000, UP, PPM),
    (120_000, UP, PPM), (120_000, DOWN, PPM),
    (80_000, UP, PPM), (80_000, DOWN, PPM),
    (40_000, UP, PPM), (40_000, DOWN, PPM),
    (0, UP, PPM), (0, DOWN, PPM),
    (-40_000, UP, PPM), (-40_000, DOWN, PPM),
    (-80_000, UP, PPM), (-80_000, DOWN, PPM),
    (-120_000, UP, PPM), (-120_000, DOWN, PPM),
    (-160_000, UP, PPM),
    (-660_000, UP, 240_000),
    (-330_000, UP, 480_000),
    (500_000, UP, 320_000),
    (1_000_000, UP, 160_000),
    (2_000_000, UP, 80_000),
    (3_000_000, UP, 53_334),
    (4_000_000, UP, 40_000),
    (5_000_000, UP, 32_000),
)  # fmt: skip
"""``(spot shock ppm, vol direction, weight ppm)`` — 24 rows."""


@dataclass(frozen=True, slots=True)
class ScanParams:
    """Portfolio-margin config (ppm unless the name says otherwise)."""

    scenarios: tuple[tuple[int, int, int], ...] = DEFAULT_SCENARIOS
    vol_up_ppm: int = 400_000
    vol_down_ppm: int = -220_000
    short_power_ppm: int = 300_000
    long_power_ppm: int = 130_000
    power_switch_days: int = 30
    reference_days: int = 30
    dte_floor_days: int = 1
    min_delta_ppm: int = 20_000
    mm_ratio_ppm: int = 500_000

    def __post_init__(self) -> None:
        if not self.scenarios:
            raise ValueError("at least one scenario")
        for shock, vol, weight in self.scenarios:
            if shock <= -PPM or vol not in (UP, DOWN, 0) or not 0 < weight <= PPM:
                raise ValueError("scenario: shock > -100 %, vol in {-1, 0, 1}, 0 < weight <= 1")
        if not -PPM < self.vol_down_ppm <= 0 <= self.vol_up_ppm:
            raise ValueError("need -1 < vol_down <= 0 <= vol_up")
        if self.dte_floor_days < 1 or self.reference_days < 1:
            raise ValueError("dte_floor_days and reference_days must be >= 1")
        if not 0 < self.mm_ratio_ppm <= PPM or not 0 <= self.min_delta_ppm <= PPM:
            raise ValueError("mm_ratio_ppm in (0, 1e6], min_delta_ppm in [0, 1e6]")

    @property
    def n(self) -> int:
        return len(self.scenarios)

    @property
    def shocks(self) -> np.ndarray:
        return np.array([s for s, _, _ in self.scenarios], dtype=np.float64) / PPM

    @property
    def weights(self) -> tuple[int, ...]:
        return tuple(w for _, _, w in self.scenarios)


def shocked_vols(sigma: np.ndarray, T: np.ndarray, p: ScanParams) -> np.ndarray:
    """``(n, scenarios)`` shocked vols (see the module docstring)."""
    sigma = np.asarray(sigma, dtype=np.float64)
    dte = np.asarray(T, dtype=np.float64) * 365.0
    power = np.where(dte < p.power_switch_days, p.short_power_ppm, p.long_power_ppm) / PPM
    scale = (p.reference_days / np.maximum(dte, p.dte_floor_days)) ** power
    v = np.array([p.vol_up_ppm if d == UP else p.vol_down_ppm if d == DOWN else 0
                  for _, d, _ in p.scenarios], dtype=np.float64) / PPM  # fmt: skip
    out = sigma[:, None] * (1.0 + v[None, :] * scale[:, None])
    return np.maximum(out, 1e-9)


def option_value_changes(F: np.ndarray, K: np.ndarray, T: np.ndarray, sigma: np.ndarray,
                         is_call: np.ndarray, base: np.ndarray, p: ScanParams) -> np.ndarray:
    """``ΔV`` per unit of underlying, ``(n, scenarios)``, against the base values."""
    F = np.asarray(F, dtype=np.float64)
    fs = F[:, None] * (1.0 + p.shocks[None, :])
    n = len(F)
    k = np.repeat(np.asarray(K, dtype=np.float64)[:, None], p.n, axis=1)
    t = np.repeat(np.asarray(T, dtype=np.float64)[:, None], p.n, axis=1)
    c = np.repeat(np.asarray(is_call, dtype=bool)[:, None], p.n, axis=1)
    v = black76.price(fs, k, t, shocked_vols(sigma, T, p), c).reshape(n, p.n)
    return v - np.asarray(base, dtype=np.float64)[:, None]


def linear_value_changes(P: np.ndarray, p: ScanParams) -> np.ndarray:
    """``ΔV`` of a perpetual or future per unit: ``P · shock``."""
    return np.asarray(P, dtype=np.float64)[:, None] * p.shocks[None, :]


def lot_loss_tables(dv: np.ndarray, mult: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(loss_long, loss_short)`` per lot, int64 ``(n, scenarios)``, rounded up."""
    lo, hi = lot_values(dv, np.asarray(mult, dtype=np.float64)[:, None])
    return -lo, hi


def weighted_max(loss: list[int], weights: tuple[int, ...]) -> tuple[int, int]:
    """``(max(0, max_s ceil(w_s·loss_s)), argmax)`` exactly, in Python ints; -1 if none > 0."""
    best, at = 0, -1
    for i, (x, w) in enumerate(zip(loss, weights)):
        v = x if w == PPM else -((-x * w) // PPM)
        if v > best:
            best, at = v, i
    return best, at


def weighted_max_vector(loss: np.ndarray, weights: tuple[int, ...],
                        full: slice | None = None) -> np.ndarray:
    """``weighted_max``'s value over the rows of an int64 ``(n, scenarios)`` array, exact.

    Weight-1 scenarios are taken as they are (``full``: their slice, when contiguous);
    the others are scaled in one pass when no product can overflow int64, else split at
    1e6 (``q·w + ceil(r·w/1e6)``).
    """
    w = np.asarray(weights, dtype=np.int64)
    if full is not None:
        best = loss[:, full].max(axis=1)
        keep = np.ones(len(w), dtype=bool)
        keep[full] = False
        tail_idx = np.flatnonzero(keep)
    else:
        best = np.zeros(len(loss), dtype=np.int64)
        tail_idx = np.arange(len(w))
    if tail_idx.size:
        contiguous = tail_idx[-1] - tail_idx[0] + 1 == tail_idx.size
        tail = loss[:, tail_idx[0]:tail_idx[-1] + 1] if contiguous else loss[:, tail_idx]
        wt = w[tail_idx]
        if max(float(tail.max(initial=0)), -float(tail.min(initial=0))) * PPM < _INT_SAFE:
            # ceil(y / 1e6) never decreases as y grows: the largest scaled tail is
            # ceil(max_s(w_s·x_s) / 1e6), one division per row
            top = -(-(tail * wt).max(axis=1) // PPM)
        else:
            q, r = np.divmod(tail, PPM)
            top = (q * wt + (r * wt + (PPM - 1)) // PPM).max(axis=1)
        np.maximum(best, top, out=best)
    return np.maximum(best, 0, out=best)


_INT_SAFE = float(1 << 62)

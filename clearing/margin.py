"""The margin kernel: tiered requirements, per-instrument charges, account predicates.

One set of pure integer functions used by every caller (pre-trade, settlement, re-mark,
liquidation), so the numbers can never disagree (risk.md pain point P2). Units:

- notional: minor units of the settlement asset (1e-6 USD); ``|size| · mark · multiplier``;
- rates: parts per million; requirements are rounded **up** (against the account);
- prices: the instrument's integer price units.

Tiers are *marginal brackets* (like income tax): the part of a position's notional that
lies inside bracket k is charged at bracket k's rate, so the requirement is continuous
and never decreases when the notional grows. This equals Binance's "rate · notional -
maintenance amount" form with the amounts chosen for continuity.

Per instrument i with position ``s``, resting buys (total qty ``bq``, Σ qty·price ``bv``,
reserved fees ``bf``) and sells (``sq``, ``sv``, ``sf``), at mark ``P`` and multiplier m::

    im   = IM(|s|·P·m)                  mm = MM(|s|·P·m)
    cb   = IM(|s+bq|·P·m) + max(0, bv - bq·P)·m + bf      all buys filled at their limits
    cs   = IM(|s-sq|·P·m) + max(0, sq·P - sv)·m + sf      all sells filled at their limits
    req  = max(im, cb, cs)                                the worse side (or no fill)

The account requirement is ``REQ = Σ req``; equity ``E = cash + haircut collateral +
Σ s·P·m``; the admission invariant is ``E ≥ REQ``; liquidation is ``E < MM`` (strict).
A net gain from resting orders priced better than the mark is never credited (only the
open loss counts), so an order cannot pay for itself.

``TierSchedule.vector`` computes the same requirement over numpy int64 arrays without
overflow (the products are split at 1e6), bit-identical to the scalar form;
``TierSchedule.charge`` is the scalar form as a plain function specialised to the
schedule's shape (one rate, two brackets, more), for the hot paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from clearing.intmath import PPM


class TierSchedule:
    """Marginal-bracket requirement: ``bounds`` ascending upper edges, one more rate."""

    __slots__ = ("bounds", "charge", "rates", "single")

    def __init__(self, bounds: Sequence[int], rates: Sequence[int]) -> None:
        if len(rates) != len(bounds) + 1:
            raise ValueError("need exactly one more rate than bounds")
        self.bounds = tuple(bounds)
        self.rates = tuple(rates)
        self.single = rates[0] if not bounds else None
        self.charge: Callable[[int], int] = _charge_function(self.bounds, self.rates)
        """``self(notional)`` as a plain function (the same integers, fewer steps)."""

    def __call__(self, notional: int) -> int:
        """Requirement for a non-negative notional, rounded up."""
        single = self.single
        if single is not None:
            return -((-notional * single) // PPM)
        total = 0
        lo = 0
        for hi, rate in zip(self.bounds, self.rates):
            if notional <= hi:
                return -((-(total + (notional - lo) * rate)) // PPM)
            total += (hi - lo) * rate
            lo = hi
        return -((-(total + (notional - lo) * self.rates[-1])) // PPM)

    def vector(self, notional: np.ndarray) -> np.ndarray:
        """The same as ``__call__`` element-wise over a non-negative int64 array."""
        top = float(notional.max(initial=0)) * max(self.rates)
        if top < _FAST_LIMIT:  # every product fits in int64: one pass, one division
            if self.single is not None:
                total = notional * self.single
            else:
                total = np.zeros_like(notional)
                lo = 0
                for hi, rate in zip([*self.bounds, None], self.rates):
                    seg = notional - lo
                    np.maximum(seg, 0, out=seg)
                    if hi is not None:
                        np.minimum(seg, hi - lo, out=seg)
                    seg *= rate
                    total += seg
                    if hi is None:
                        break
                    lo = hi
            total += PPM - 1
            total //= PPM
            return total
        whole = np.zeros_like(notional)
        frac = np.zeros_like(notional)
        lo = 0
        edges = [*self.bounds, None]
        for hi, rate in zip(edges, self.rates):
            seg = notional - lo
            np.maximum(seg, 0, out=seg)
            if hi is not None:
                np.minimum(seg, hi - lo, out=seg)
            q, r = np.divmod(seg, PPM)
            whole += q * rate
            frac += r * rate
            if hi is None:
                break
            lo = hi
        return whole + (frac + (PPM - 1)) // PPM


_FAST_LIMIT = float(1 << 62)


def _charge_function(bounds: tuple[int, ...], rates: tuple[int, ...]) -> Callable[[int], int]:
    """``TierSchedule.__call__`` for these brackets, with the sums below each edge fixed."""
    if not bounds:
        rate = rates[0]

        def one_rate(notional: int) -> int:
            return -((-notional * rate) // PPM)

        return one_rate
    if len(bounds) == 1:
        hi = bounds[0]
        low_rate, high_rate = rates
        below = hi * low_rate

        def two_brackets(notional: int) -> int:
            if notional <= hi:
                return -((-(notional * low_rate)) // PPM)
            return -((-(below + (notional - hi) * high_rate)) // PPM)

        return two_brackets
    steps = []
    total = 0
    lo = 0
    for hi, rate in zip(bounds, rates):
        steps.append((hi, lo, total, rate))
        total += (hi - lo) * rate
        lo = hi
    last = (lo, total, rates[-1])
    steps_t = tuple(steps)

    def brackets(notional: int) -> int:
        for hi, lo, total, rate in steps_t:
            if notional <= hi:
                return -((-(total + (notional - lo) * rate)) // PPM)
        lo, total, rate = last
        return -((-(total + (notional - lo) * rate)) // PPM)

    return brackets


def side_charge(
    tiers: TierSchedule, size_after: int, open_loss: int, fees: int, mark: int, mult: int
) -> int:
    """Requirement of one side's scenario: IM at the position after + open loss + fees."""
    return tiers(abs(size_after) * mark * mult) + open_loss + fees


def instrument_charges(
    im_tiers: TierSchedule,
    mm_tiers: TierSchedule,
    mark: int,
    mult: int,
    size: int,
    bq: int,
    bv: int,
    bf: int,
    sq: int,
    sv: int,
    sf: int,
) -> tuple[int, int, int, int, int]:
    """``(im, mm, cb, cs, req)`` of one position with its resting orders (module docstring)."""
    n = abs(size) * mark * mult
    im = im_tiers(n)
    mm = mm_tiers(n)
    cb = im
    if bq:
        loss = bv - bq * mark
        cb = im_tiers(abs(size + bq) * mark * mult) + (loss * mult if loss > 0 else 0) + bf
    cs = im
    if sq:
        loss = sq * mark - sv
        cs = im_tiers(abs(size - sq) * mark * mult) + (loss * mult if loss > 0 else 0) + sf
    req = im
    if cb > req:
        req = cb
    if cs > req:
        req = cs
    return im, mm, cb, cs, req


def charges_vector(
    im_tiers: TierSchedule,
    mm_tiers: TierSchedule,
    mark: int,
    mult: int,
    size: np.ndarray,
    bq: np.ndarray,
    bv: np.ndarray,
    bf: np.ndarray,
    sq: np.ndarray,
    sv: np.ndarray,
    sf: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``instrument_charges`` over arrays (one row per account), same integers."""
    pm = mark * mult
    n = np.abs(size) * pm
    im = im_tiers.vector(n)
    mm = mm_tiers.vector(n)
    cb = im.copy()
    rows = np.flatnonzero(bq)
    if rows.size:
        b = bq[rows]
        loss = np.maximum(bv[rows] - b * mark, 0) * mult
        cb[rows] = im_tiers.vector(np.abs(size[rows] + b) * pm) + loss + bf[rows]
    cs = im.copy()
    rows = np.flatnonzero(sq)
    if rows.size:
        q = sq[rows]
        loss = np.maximum(q * mark - sv[rows], 0) * mult
        cs[rows] = im_tiers.vector(np.abs(size[rows] - q) * pm) + loss + sf[rows]
    req = np.maximum(np.maximum(im, cb), cs)
    return im, mm, cb, cs, req


def is_liquidatable(equity: int, mm: int) -> bool:
    """``E < MM`` strictly (so MM > 0 is implied for a solvent account)."""
    return equity < mm


def risk_reducing(equity: int, mm: int, equity_after: int, mm_after: int) -> bool:
    """The below-requirement exception: MM does not rise and E/MM does not fall.

    Ratios are compared by cross-multiplication: ``E'·MM ≥ E·MM'``. With ``MM' = 0``
    (everything closed) this asks ``E' ≥ 0``.
    """
    if mm_after > mm:
        return False
    if mm == 0:
        return mm_after == 0 and equity_after >= equity
    return equity_after * mm >= equity * mm_after


def warning_level(mm: int, ratio_ppm: int) -> int:
    """Margin-call level ``MM · ratio`` rounded up (a call goes out a little earlier)."""
    return -((-mm * ratio_ppm) // PPM)

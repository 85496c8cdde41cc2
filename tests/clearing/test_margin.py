"""Worked numbers for the margin kernel: tiers, charges, predicates; vector == scalar."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.margin import (
    TierSchedule,
    charges_vector,
    instrument_charges,
    is_liquidatable,
    risk_reducing,
    warning_level,
)

FLAT = TierSchedule([], [100_000])  # 10 %
TIERED = TierSchedule([1_000_000, 5_000_000], [100_000, 200_000, 500_000])


def test_flat_rate_rounds_up() -> None:
    assert FLAT(1_000) == 100
    assert FLAT(15) == 2  # 1.5 rounds up, against the account
    assert FLAT(0) == 0


def test_tiers_are_marginal_brackets() -> None:
    # 1,000,000 at 10 % + 2,000,000 at 20 % = 100,000 + 400,000
    assert TIERED(3_000_000) == 500_000
    # continuous at the edge: 1,000,000 -> 100,000 and one more unit costs 0.2 -> 100,001
    assert TIERED(1_000_000) == 100_000
    assert TIERED(1_000_001) == 100_001
    # third bracket: 100,000 + 800,000 + 1,000,000 * 50 %
    assert TIERED(6_000_000) == 1_400_000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**15), min_size=1, max_size=20))
def test_vector_matches_scalar(values: list[int]) -> None:
    arr = np.array(values, dtype=np.int64)
    for sched in (FLAT, TIERED):
        assert sched.vector(arr).tolist() == [sched(v) for v in values]


def test_charges_no_orders() -> None:
    # long 10 at mark 100, multiplier 1: notional 1,000 -> IM 100, MM 50
    im, mm, cb, cs, req = instrument_charges(FLAT, TierSchedule([], [50_000]), 100, 1,
                                             10, 0, 0, 0, 0, 0, 0)  # fmt: skip
    assert (im, mm, cb, cs, req) == (100, 50, 100, 100, 100)


def test_buy_above_mark_adds_open_loss_and_fee() -> None:
    # flat, resting buy 10 @ 110 with a 20 fee reserve, mark 100:
    # cb = IM(10*100) + (1100 - 1000) + 20 = 100 + 100 + 20
    _, _, cb, cs, req = instrument_charges(FLAT, FLAT, 100, 1, 0, 10, 1_100, 20, 0, 0, 0)
    assert (cb, cs, req) == (220, 0, 220)


def test_buy_below_mark_gets_no_credit() -> None:
    _, _, cb, _, req = instrument_charges(FLAT, FLAT, 100, 1, 0, 10, 900, 0, 0, 0, 0)
    assert cb == 100 and req == 100


def test_worst_side_and_reducing_orders() -> None:
    # long 10, resting sell 10 @ 100 (closes) and buy 5 @ 100 (adds): worse side is buys
    im, _, cb, cs, req = instrument_charges(FLAT, FLAT, 100, 1, 10, 5, 500, 0, 10, 1_000, 0)
    assert im == 100 and cs == 0 and cb == 150 and req == 150


def test_charges_vector_matches_scalar() -> None:
    rows = [(10, 5, 500, 3, 10, 1_000, 1), (-7, 0, 0, 0, 2, 300, 0), (0, 4, 480, 1, 0, 0, 0)]
    cols = [np.array(c, dtype=np.int64) for c in zip(*rows)]
    got = charges_vector(TIERED, FLAT, 120, 1_000, *cols)
    for i, row in enumerate(rows):
        want = instrument_charges(TIERED, FLAT, 120, 1_000, *row)
        assert tuple(int(a[i]) for a in got) == want


def test_predicates() -> None:
    assert is_liquidatable(99, 100) and not is_liquidatable(100, 100)
    # MM falls 100 -> 60, ratio 0.5 -> 0.5: allowed (not lowered)
    assert risk_reducing(50, 100, 30, 60)
    # ratio 0.5 -> 0.4: refused
    assert not risk_reducing(50, 100, 24, 60)
    # MM rises: refused
    assert not risk_reducing(50, 100, 80, 101)
    # everything closed: allowed when equity stays >= 0
    assert risk_reducing(50, 100, 0, 0) and not risk_reducing(50, 100, -1, 0)
    assert warning_level(1_000, 1_500_000) == 1_500
    assert warning_level(3, 1_500_000) == 5  # 4.5 rounds up


@given(
    st.lists(st.integers(1, 10**13), min_size=0, max_size=4, unique=True),
    st.lists(st.integers(0, 500_000), min_size=5, max_size=5),
    st.lists(st.integers(0, 10**16), min_size=1, max_size=30),
)
def test_charge_function_equals_the_schedule(bounds: list[int], rates: list[int],
                                             notionals: list[int]) -> None:  # fmt: skip
    """``TierSchedule.charge`` (specialised per shape) gives exactly ``__call__``."""
    bounds = sorted(bounds)
    sched = TierSchedule(bounds, rates[: len(bounds) + 1])
    edges = [b + d for b in bounds for d in (-1, 0, 1)] + [0]
    for n in notionals + edges:
        assert sched.charge(n) == sched(n)

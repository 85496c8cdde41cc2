"""The portfolio cache's fast paths against the exact ones they replace.

- the blocked, scenario-major SCAN of every account (``_store_and_scan``) against
  ``weighted_max_vector`` row by row, across block edges and weight layouts;
- the one-division SCAN of one vector (``_scan``) against ``weighted_max``;
- the linear worst side of a column (``Tables.opposed``): ``max(b·ll, s·ls)`` equals
  ``b·max(ll, 0) + s·max(ls, 0)`` for tables built by ``make_tables``;
- the change of option value through the sparse product against row-by-row sums.
"""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.intmath import PPM
from clearing.options import portfolio
from clearing.options.portfolio import PortfolioCache, make_tables
from clearing.options.scenarios import UP, ScanParams, weighted_max, weighted_max_vector
from clearing.positions import Ledger

weight = st.one_of(st.just(PPM), st.integers(1, PPM))


def _params(weights: list[int]) -> ScanParams:
    return ScanParams(scenarios=tuple((0, UP, w) for w in weights))


@settings(max_examples=60, deadline=None)
@given(weights=st.lists(weight, min_size=1, max_size=12), n_under=st.integers(1, 2),
       n=st.integers(0, 40), big=st.sampled_from([10**6, 2**52, 2**61]),
       seed=st.integers(0, 2**32 - 1), safe=st.booleans())  # fmt: skip
def test_blocked_scan_equals_weighted_max_vector(weights: list[int], n_under: int, n: int,
                                                 big: int, seed: int, safe: bool) -> None:
    with patch.object(portfolio, "_BLOCK", 8):  # several blocks and a ragged last one
        _check_blocked_scan(weights, n_under, n, big, seed, safe)


def _check_blocked_scan(weights: list[int], n_under: int, n: int, big: int, seed: int,
                        safe: bool) -> None:
    p = _params(weights)
    cache = PortfolioCache(p, [], n_under)
    cache.ensure(n)
    S = p.n
    rng = np.random.default_rng(seed)
    loss = rng.integers(-big, big, (n, n_under * S), dtype=np.int64, endpoint=True)
    # the product's result: float64 while exact, else int64 (as remargin_all makes it)
    res = loss.astype(np.float64) if big <= 2**52 else loss
    safe = safe and big * PPM < float(1 << 62)
    scan = cache._store_and_scan(res, n, safe)
    assert np.array_equal(cache.pos_loss[:n], loss)
    want = weighted_max_vector(loss.reshape(n * n_under, S), p.weights,
                               cache._full if isinstance(cache._full, slice) else None)
    assert scan.tolist() == want.tolist()
    for row, got in zip(loss.reshape(n * n_under, S).tolist(), scan.tolist()):
        assert got == weighted_max(row, p.weights)[0]


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(weight, min_size=1, max_size=24),
       data=st.data())  # fmt: skip
def test_one_division_scan_equals_weighted_max(weights: list[int], data: st.DataObject) -> None:
    p = _params(weights)
    cache = PortfolioCache(p, [], 1)
    loss = data.draw(st.lists(st.integers(-(2**70), 2**70), min_size=p.n, max_size=p.n))
    assert cache._scan(loss) == weighted_max(loss, p.weights)[0]


@settings(max_examples=100, deadline=None)
@given(F=st.floats(1_000, 200_000), K=st.floats(500, 400_000),
       T=st.one_of(st.just(0.0), st.floats(0.002, 2)), vol=st.floats(0.05, 3),
       call=st.booleans(), linear=st.booleans(),
       b=st.integers(0, 10**6), s=st.integers(0, 10**6))  # fmt: skip
def test_worst_side_is_linear_in_the_lots(F: float, K: float, T: float, vol: float, call: bool,
                                          linear: bool, b: int, s: int) -> None:
    t = make_tables(ScanParams(), F=[F], K=[K], T=[T], sigma=[vol], is_call=[call],
                    linear=[linear], mult=[1_000 if linear else 10_000], under=[0],
                    n_under=1)  # fmt: skip
    assert t.opposed == [True]
    for ll, ls, llp, lsp in zip(t.ll[0], t.ls[0], t.llp[0], t.lsp[0]):
        assert max(b * ll, s * ls) == b * llp + s * lsp


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), members=st.booleans())
def test_value_change_through_the_product_equals_the_rows(seed: int, n: int,
                                                          members: bool) -> None:
    rng = np.random.default_rng(seed)
    n_cols = 5
    ledgers = [Ledger() for _ in range(n_cols)]
    for L in ledgers:
        for slot in rng.choice(n, size=rng.integers(0, n + 1), replace=False).tolist():
            L.size[L.row(slot)] = int(rng.integers(-60, 61))
    t = make_tables(ScanParams(), F=[60_000.0] * n_cols, K=[50_000.0, 60_000.0, 70_000.0,
                    60_000.0, 1.0], T=[0.1] * n_cols, sigma=[0.6] * n_cols,
                    is_call=[True, False, True, True, False],
                    linear=[False] * (n_cols - 1) + [True], mult=[10_000] * 4 + [1_000],
                    under=[0] * n_cols, n_under=1)  # fmt: skip
    mask = rng.random(n) < 0.6 if members else None
    d_lo = rng.integers(-10**9, 10**9, n_cols)
    d_hi = d_lo + rng.integers(0, 2, n_cols)
    cache = PortfolioCache(ScanParams(), ledgers, 1)
    got = cache.remargin_all(t, n, mask, (d_lo, d_hi))
    want = [0] * n
    for j, L in enumerate(ledgers):
        for r in range(L.n):
            slot, q = L.slot[r], L.size[r]
            if mask is None or mask[slot]:
                want[slot] += q * int(d_lo[j] if q > 0 else d_hi[j])
    assert got is not None and got.tolist() == want
    assert cache.remargin_all(t, n, mask) is None


step = st.one_of(
    st.tuples(st.just("trade"), st.integers(0, 4), st.integers(0, 11), st.integers(-40, 40)),
    st.tuples(st.just("members"), st.lists(st.booleans(), min_size=12, max_size=12)),
    st.tuples(st.just("all"), st.just(None)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(step, min_size=1, max_size=25))
def test_kept_lots_matrix_equals_a_fresh_one(steps: list) -> None:
    """Rows appended, positions changed (dirty columns), members switched: the kept CSR
    layout, re-filled per column, multiplies as a cache built from scratch."""
    n_cols, n = 5, 12
    ledgers = [Ledger() for _ in range(n_cols)]
    t = make_tables(ScanParams(), F=[60_000.0] * n_cols, K=[50_000.0, 60_000.0, 70_000.0,
                    60_000.0, 1.0], T=[0.1] * n_cols, sigma=[0.6] * n_cols,
                    is_call=[True, False, True, True, False],
                    linear=[False] * (n_cols - 1) + [True], mult=[10_000] * 4 + [1_000],
                    under=[0] * n_cols, n_under=1)  # fmt: skip
    kept = PortfolioCache(ScanParams(), ledgers, 1)
    mask: np.ndarray | None = None
    for s in steps:
        if s[0] == "trade":
            _, col, slot, d = s
            L = ledgers[col]
            L.size[L.row(slot)] += d
            kept.mark_dirty(col)
        elif s[0] == "members":
            mask = np.array(s[1], dtype=bool)
        else:
            mask = None
        kept.remargin_all(t, n, mask)
        fresh = PortfolioCache(ScanParams(), ledgers, 1)
        fresh.remargin_all(t, n, mask)
        for name in ("pos_loss", "pos_delta", "im", "mm", "req"):
            assert np.array_equal(getattr(kept, name)[:n], getattr(fresh, name)[:n]), name


def test_resting_orders_with_no_scalar_and_no_delta_still_count_in_pre_trade() -> None:
    """A fee-free resting sell of a deep OTM call above its liability (order scalar 0)
    whose lot delta rounds to 0 (|delta| 0) still has a scenario vector: a new order in
    another column is checked with it, and the cache stays equal to a recompute. (Main's
    check took "no scalar, no |delta|" for "no resting orders" and dropped the vector.)"""
    p = ScanParams()
    t = make_tables(p, F=[60_000.0, 60_000.0], K=[200_000.0, 60_000.0], T=[2 / 365, 30 / 365],
                    sigma=[0.6, 0.6], is_call=[True, False], linear=[False, False],
                    mult=[10_000, 10_000], under=[0, 0], n_under=1)  # fmt: skip
    assert t.dl[0] == 0 and t.hil[0] <= 100 * 10_000
    ledgers = [Ledger(), Ledger()]
    cache = PortfolioCache(p, ledgers, 1)
    cache.remargin_all(t, 1)
    L = ledgers[0]
    r = L.row(0)
    L.sq[r], L.sv[r], L.sf[r] = 5, 5 * 100, 0
    cache.refresh_account(0)
    assert int(cache.ord_scalar[0]) == 0 and cache.ord_dabs[0].tolist() == [0]
    assert int(cache.ord_loss[0].max()) > 0
    req, _ = cache.check_resting(0, 1, 1, 2, 3_000, 0, 0, 0, 0, 0, 0, 0)
    L1 = ledgers[1]
    r1 = L1.row(0)
    L1.bq[r1], L1.bv[r1] = 2, 6_000
    assert cache.commit_resting(0) == req
    cache.flush()
    full = PortfolioCache(p, ledgers, 1)
    full.remargin_all(t, 1)
    assert req == int(full.req[0]) == int(cache.req[0])
    assert np.array_equal(cache.ord_loss[0], full.ord_loss[0])

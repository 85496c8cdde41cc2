"""Portfolio margin: hand-worked small books, PM <= standard for hedged books, the cache.

The hand-worked figures come from an independent scalar implementation written here
(Black-76 with ``math.erf``, the 24 scenarios looped one by one, each lot's value change
rounded against its holder as docs/options.md states), never from the kernel's output.

Units: index 60,000 USD in whole-dollar price units; option lots of 0.01 BTC and perp
lots of 0.001 BTC at 6 settlement decimals, so the multipliers are 10,000 and 1,000.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from clearing.intmath import PPM
from clearing.options.portfolio import PortfolioCache, Tables, make_tables
from clearing.options.scenarios import DEFAULT_SCENARIOS, ScanParams
from clearing.options.standard import StandardParams, lot_margins, position_margin
from clearing.positions import Ledger

F0, T0, VOL = 60_000.0, 30 / 365, 0.60
M_OPT, M_PERP = 10_000, 1_000
P = ScanParams()


# -- an independent reference ---------------------------------------------------------
def _N(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _b76(F: float, K: float, T: float, s: float, call: bool) -> float:
    sq = s * math.sqrt(T)
    d1 = (math.log(F / K) + sq * sq / 2) / sq
    c = F * _N(d1) - K * _N(d1 - sq)
    return c if call else c - F + K


def _delta(F: float, K: float, T: float, s: float, call: bool) -> float:
    sq = s * math.sqrt(T)
    nd1 = _N((math.log(F / K) + sq * sq / 2) / sq)
    return nd1 if call else nd1 - 1.0


def _ref_scan(legs: list[tuple]) -> tuple[int, int]:
    """(SCAN, MinDelta) of legs (kind, K, call, qty): kind 'o' option, 'p' perp."""
    dte = T0 * 365
    power = 0.30 if dte < 30 else 0.13
    worst = 0
    for shock_ppm, vol_dir, w_ppm in DEFAULT_SCENARIOS:
        shock = shock_ppm / PPM
        v = 0.40 if vol_dir > 0 else -0.22
        vol = VOL * (1 + v * (30 / max(1.0, dte)) ** power)
        loss = 0
        for kind, K, call, q in legs:
            if kind == "p":
                dv, m = F0 * shock, M_PERP
            else:
                dv, m = _b76(F0 * (1 + shock), K, T0, vol, call) - _b76(F0, K, T0, VOL, call), M_OPT
            lot = math.floor(dv * m) if q > 0 else math.ceil(dv * m)
            loss -= q * lot
        worst = max(worst, math.ceil(loss * w_ppm / PPM))
    net = 0
    for kind, K, call, q in legs:
        if kind == "p":
            net += q * round(F0 * M_PERP)
        else:
            net += q * round(_delta(F0, K, T0, VOL, call) * F0 * M_OPT)
    return worst, math.ceil(abs(net) * 0.02)


def _standard(legs: list[tuple], perp_imf: float = 0.10) -> tuple[int, int]:
    """(IM, MM) in standard mode: per-leg option margin + tiered (flat) perp margin."""
    im_t = mm_t = 0
    for kind, K, call, q in legs:
        if kind == "p":
            n = abs(q) * F0 * M_PERP
            im_t += math.ceil(n * perp_imf)
            mm_t += math.ceil(n * perp_imf / 2)
            continue
        mark = _b76(F0, K, T0, VOL, call)
        li, si, sm = (int(x[0]) for x in lot_margins(
            np.array([F0]), np.array([K]), np.array([mark]), np.array([call]), M_OPT,
            StandardParams()))  # fmt: skip
        im, mm = position_margin(q, li, si, sm)
        im_t += im
        mm_t += mm
    return im_t, mm_t


# -- the kernel on ledgers ------------------------------------------------------------
STRIKES = [50_000, 54_000, 60_000, 66_000, 70_000]
COLS = [(K, c) for K in STRIKES for c in (True, False)] + [("perp", None)]


def _tables(F: float = F0, vol: float = VOL) -> Tables:
    n = len(COLS)
    lin = [k == "perp" for k, _ in COLS]
    return make_tables(P, F=[F] * n, K=[1.0 if x else k for (k, _), x in zip(COLS, lin)],
                       T=[T0] * n, sigma=[vol] * n, is_call=[bool(c) for _, c in COLS],
                       linear=lin, mult=[M_PERP if x else M_OPT for x in lin],
                       under=[0] * n, n_under=1)  # fmt: skip


def _col(kind: str, K: object, call: object) -> int:
    return COLS.index(("perp", None) if kind == "p" else (K, call))


def _book(legs: list[tuple]) -> tuple[PortfolioCache, list[Ledger]]:
    ledgers = [Ledger() for _ in COLS]
    for kind, K, call, q in legs:
        L = ledgers[_col(kind, K, call)]
        r = L.row(0)
        L.size[r] += q
    cache = PortfolioCache(P, ledgers, 1)
    cache.remargin_all(_tables(), 1)
    return cache, ledgers


SHORT_STRANGLE = [("o", 66_000, True, -100), ("o", 54_000, False, -100)]
IRON_CONDOR = [("o", 50_000, False, 100), ("o", 54_000, False, -100),
               ("o", 66_000, True, -100), ("o", 70_000, True, 100)]  # fmt: skip


def _hedged_straddle() -> list[tuple]:
    d = 100 * (_delta(F0, 60_000, T0, VOL, True) + _delta(F0, 60_000, T0, VOL, False))
    # short 100 lots of each (1 BTC); buy the perp lots (0.001 BTC) that flatten delta
    return [("o", 60_000, True, -100), ("o", 60_000, False, -100),
            ("p", None, None, round(d * M_OPT / M_PERP))]  # fmt: skip


@pytest.mark.parametrize("legs", [SHORT_STRANGLE, IRON_CONDOR, _hedged_straddle()],
                         ids=["short strangle", "iron condor", "delta-hedged short straddle"])
def test_scan_and_min_delta_match_the_hand_worked_figures(legs: list[tuple]) -> None:
    cache, _ = _book(legs)
    f = cache.figures(0)
    scan, md = _ref_scan(legs)
    # the two implementations may round a lot's value on either side of an integer
    lots = sum(abs(q) for *_, q in legs)
    assert abs(f.scan - scan) <= lots
    assert abs(f.min_delta - md) <= 1 + lots // 50
    base = max(f.scan, f.min_delta)
    assert f.im == base and f.mm == -((-base) // 2) and f.req == f.im


def test_iron_condor_scan_is_bounded_by_the_wings() -> None:
    cache, _ = _book(IRON_CONDOR)
    # the most an iron condor can lose: one wing's width, per unit of underlying
    assert 0 < cache.figures(0).scan <= 4_000 * 100 * M_OPT


def test_short_strangle_worst_case_is_a_large_move() -> None:
    f = _book(SHORT_STRANGLE)[0].figures(0)
    shock, vol, _ = DEFAULT_SCENARIOS[f.worst_scenario]
    assert abs(shock) >= 160_000 and vol == 1


@pytest.mark.parametrize("legs", [IRON_CONDOR, _hedged_straddle()],
                         ids=["iron condor", "delta-hedged short straddle"])
def test_portfolio_mode_is_at_most_standard_mode_for_a_hedged_book(legs: list[tuple]) -> None:
    f = _book(legs)[0].figures(0)
    im, mm = _standard(legs)
    assert f.im <= im and f.mm <= mm


def test_delta_hedge_removes_the_min_delta_floor() -> None:
    legs = _hedged_straddle()
    hedged = _book(legs)[0].figures(0)
    naked = _book(legs[:2])[0].figures(0)
    assert hedged.min_delta < naked.min_delta
    assert hedged.scan <= naked.scan


def test_provisions_add_to_im_and_mm() -> None:
    cache, _ = _book(SHORT_STRANGLE)
    before = cache.figures(0)
    cache.prov[0] = 1_234
    after = cache.figures(0)
    assert (after.im, after.mm) == (before.im + 1_234, before.mm + 1_234)


def test_resting_orders_take_the_worse_side() -> None:
    cache, ledgers = _book(SHORT_STRANGLE)
    t = cache.tables
    assert t is not None
    c = _col("o", 66_000, True)
    L = ledgers[c]
    r = L.row_of[0]
    premium = t.hil[c] // M_OPT + 50  # asks above the mark: no open loss
    L.sq[r], L.sv[r] = 20, 20 * premium  # sell 20 more calls
    L.bq[r], L.bv[r] = 5, 5 * (t.lol[c] // M_OPT - 50)  # buy back 5, bid below the mark
    f = cache.refresh_account(0)
    sold = _book([*SHORT_STRANGLE, ("o", 66_000, True, -20)])[0].figures(0)
    assert f.req == sold.im  # the sells are the worse side; no open loss, no fee
    assert f.im == cache.figures(0).im < f.req


def test_vectorised_remargin_equals_the_one_account_path() -> None:
    cache, ledgers = _book(IRON_CONDOR)
    L = ledgers[_col("p", None, None)]
    r = L.row(3)
    L.size[r] = -7
    cache.mark_dirty(_col("p", None, None))
    L.bq[r], L.bv[r], L.bf[r] = 4, 4 * 59_000, 9
    cache.remargin_all(_tables(61_000, 0.7), 4)
    vec = [(int(cache.im[s]), int(cache.mm[s]), int(cache.req[s])) for s in range(4)]
    rows = [cache.pos_loss[s].tolist() for s in range(4)]
    for s in range(4):
        f = cache.refresh_account(s)
        assert (f.im, f.mm, f.req) == vec[s]
        assert cache.pos_loss[s].tolist() == rows[s]


# -- the pre-trade cache against a full recompute, over random sequences ----------------
class CacheMachine(RuleBasedStateMachine):
    """Trades, orders, cancels and re-prices; after each step the cache is exact."""

    @initialize()
    def setup(self) -> None:
        self.ledgers = [Ledger() for _ in COLS]
        self.n = 3
        self.F, self.vol = F0, VOL
        self.cache = PortfolioCache(P, self.ledgers, 1)
        self.cache.remargin_all(_tables(), self.n)

    def _row(self, col: int, slot: int) -> int:
        return self.ledgers[col].row(slot)

    @rule(slot=st.integers(0, 2), col=st.integers(0, len(COLS) - 1), d=st.integers(-50, 50))
    def trade(self, slot: int, col: int, d: int) -> None:
        L = self.ledgers[col]
        r = self._row(col, slot)
        L.size[r] += d
        self.cache.mark_dirty(col)
        self.cache.refresh_account(slot)

    @rule(slot=st.integers(0, 2), col=st.integers(0, len(COLS) - 1), side=st.sampled_from([1, -1]),
          qty=st.integers(1, 40), off=st.integers(-300, 300), fee=st.integers(0, 50))
    def order(self, slot: int, col: int, side: int, qty: int, off: int, fee: int) -> None:
        t = self.cache.tables
        assert t is not None
        L = self.ledgers[col]
        r = self._row(col, slot)
        price = max(1, t.lol[col] // t.ml[col] + off)
        imr, mmr = self.cache.check_fill(slot, col, side, qty, L.size[r])
        req, open_loss = self.cache.check_resting(
            slot, col, side, qty, price, fee, L.bq[r], L.bv[r], L.bf[r], L.sq[r], L.sv[r],
            L.sf[r])  # fmt: skip
        saved = (L.size[r], L.bq[r], L.bv[r], L.bf[r], L.sq[r], L.sv[r], L.sf[r])
        # filled completely at the limit: the positions' IMR/MMR after the fill
        L.size[r] += side * qty
        self.cache.mark_dirty(col)
        bq, sq = L.bq[r], L.sq[r]
        L.bq[r] = L.sq[r] = 0
        full = PortfolioCache(P, self.ledgers, 1)
        full.remargin_all(self.cache.tables, self.n)  # type: ignore[arg-type]
        assert (imr, mmr) == self._pos_only(full, slot)
        exp_open = qty * price * t.ml[col] - qty * t.lol[col] if side > 0 else (
            qty * t.hil[col] - qty * price * t.ml[col])
        assert open_loss == max(exp_open, 0)
        L.size[r], L.bq[r], L.sq[r] = saved[0], bq, sq
        self.cache.mark_dirty(col)
        # resting: the requirement with the order in its side
        if side > 0:
            L.bq[r] += qty
            L.bv[r] += qty * price
            L.bf[r] += fee
        else:
            L.sq[r] += qty
            L.sv[r] += qty * price
            L.sf[r] += fee
        committed = self.cache.commit_resting(slot)  # the admission path, no loop
        assert committed == req
        self.cache.flush()
        for name in ("ord_loss", "ord_dabs", "ord_scalar", "req"):
            kept = getattr(self.cache, name)[slot].copy()
            assert self.cache.refresh_account(slot) and np.array_equal(
                getattr(self.cache, name)[slot], kept), name

    def _pos_only(self, full: PortfolioCache, slot: int) -> tuple[int, int]:
        f = full._figures_one(full.pos_loss[slot].tolist(), full.pos_delta[slot].tolist(),
                              [0] * P.n, [0], 0, int(full.prov[slot]))  # fmt: skip
        return f.im, f.mm

    @rule(slot=st.integers(0, 2), col=st.integers(0, len(COLS) - 1))
    def cancel_all(self, slot: int, col: int) -> None:
        L = self.ledgers[col]
        r = L.row_of.get(slot)
        if r is not None:
            L.bq[r] = L.bv[r] = L.bf[r] = L.sq[r] = L.sv[r] = L.sf[r] = 0
            self.cache.refresh_account(slot)

    @rule(move=st.integers(-5_000, 5_000), vol=st.floats(0.2, 1.5))
    def reprice(self, move: int, vol: float) -> None:
        self.F, self.vol = F0 + move, vol
        self.cache.remargin_all(_tables(self.F, self.vol), self.n)

    @invariant()
    def cache_equals_full_recompute(self) -> None:
        self.cache.flush()
        full = PortfolioCache(P, self.ledgers, 1)
        full.remargin_all(self.cache.tables, self.n)  # type: ignore[arg-type]
        for name in ("pos_loss", "pos_delta", "ord_loss", "ord_dabs", "ord_scalar", "im",
                     "mm", "req"):
            a = getattr(self.cache, name)[: self.n]
            b = getattr(full, name)[: self.n]
            assert np.array_equal(a, b), name


TestCacheMachine = CacheMachine.TestCase
TestCacheMachine.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)

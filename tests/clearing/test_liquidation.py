"""Liquidation: worked ladder numbers, ADL, insurance fund, halts; price formulas; the
bankruptcy-price property (a fill at or better than p_b never lowers E/MM)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.commands import MarketHalt, MarketResume
from clearing.events import (
    AutoDeleveraged,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFee,
    LiquidationOrderPlaced,
    LiquidationStarted,
    MarginCall,
    PreTradeRejected,
)
from clearing.intmath import PPM
from clearing.liquidation import bankruptcy_price, fillable_price, liquidation_price
from clearing.margin import TierSchedule
from clearing.pipeline import Pipeline
from matching.commands import CancelOrder
from matching.reasons import Reason
from tests.clearing.conftest import make_config
from tests.clearing.helpers import index, of, order, trade


def _long_1000_at_100() -> Pipeline:
    p = Pipeline.from_config(make_config())
    trade(p, 1, buyer=1, seller=3, qty=1_000, price=100)
    return p


def test_margin_call_then_liquidation_into_the_book() -> None:
    p = _long_1000_at_100()
    p.submit(order(2, 3, 1, 1_000, 93))  # bids for the liquidation to hit
    out = index(p, 3, 95)  # E 5,000 < 1.5 x MM 4,750 = 7,125: call, no liquidation
    assert of(out, MarginCall) and not of(out, LiquidationStarted)
    out = index(p, 4, 94)  # E 4,000 < MM 4,700
    assert of(out, LiquidationStarted)[0].equity == 4_000
    placed = of(out, LiquidationOrderPlaced)[0]
    # p_b: receive 94,000 - floor(4,000 * 4,700 / 4,700) = 90,000 -> 90
    # p_f: ABR = 700/4,700 -> 148,936 ppm; offset floor(148,936 * 1.5 * 4,700 / 1e6) // 1,000 = 1
    assert (placed.bankruptcy_price, placed.limit, placed.qty) == (90, 93, 1_000)
    fee = of(out, LiquidationFee)[0]
    # surplus (93 - 90) * 1,000 = 3,000; fee min(1 % of 93,000, 3,000) = 930
    assert (fee.price, fee.fee, fee.shortfall) == (93, 930, 0)
    c = p.clearing
    assert c.account_summary(1)["equity"] == 10_000 - 7_000 - 930
    assert c.insurance_fund["USD"] == 1_000_000 + 930
    assert of(out, LiquidationEnded)[0].outcome == "closed"
    c.validate()


def test_no_liquidity_means_adl_at_bankruptcy_price() -> None:
    p = _long_1000_at_100()
    p.submit(order(2, 2, -1, 10, 95))  # account 2 goes short 10 too (rests, then trades)
    p.submit(order(2, 3, 1, 10, 95, tif=3))
    out = index(p, 3, 94)
    assert not of(out, LiquidationOrderPlaced)
    adl = of(out, AutoDeleveraged)
    # account 3 (short 1,000 @ 100, large equity) and 2 (short 10 @ 95): ranked by
    # uPnL x notional / E^2; both at p_b = 90
    assert {a.counterparty for a in adl} <= {2, 3} and sum(a.qty for a in adl) == 1_000
    assert all(a.price == 90 for a in adl)
    assert p.clearing.position(1, "X") == (0, 0)
    assert p.clearing.account_summary(1)["equity"] == 0  # closed exactly at bankruptcy
    p.clearing.validate()


def test_negative_equity_is_covered_by_the_insurance_fund() -> None:
    p = _long_1000_at_100()
    p.submit(order(2, 3, 1, 1_000, 85))
    out = index(p, 3, 89)  # E = -1,000 < 0: p_b = 90 above the mark
    placed = of(out, LiquidationOrderPlaced)[0]
    assert placed.bankruptcy_price == 90
    # the fund can carry the fill down to the fillable price
    assert placed.limit < 90
    fee = of(out, LiquidationFee)[0]
    assert fee.fee == 0 and fee.shortfall == (90 - 85) * 1_000
    c = p.clearing
    assert c.account_summary(1)["equity"] == 0
    assert c.insurance_fund["USD"] == 1_000_000 - 5_000
    c.validate()


def test_bad_debt_beyond_the_fund() -> None:
    p = Pipeline.from_config(make_config(clearing={"insurance_fund": 0}))
    trade(p, 1, buyer=1, seller=3, qty=1_000, price=100)
    p.submit(order(2, 3, 1, 1_000, 85))
    out = index(p, 3, 89)  # no fund: limit is the bankruptcy price, no bid there -> ADL
    assert not of(out, LiquidationOrderPlaced) and of(out, AutoDeleveraged)
    assert not of(out, InsuranceFundPaid)
    p.clearing.validate()


def test_orders_cancelled_and_new_ones_refused_during_liquidation() -> None:
    p = _long_1000_at_100()
    p.submit(order(2, 1, -1, 10, 120))  # a resting order of account 1
    p.submit(MarketHalt(3))
    out = index(p, 4, 94)  # liquidatable, but the instrument is halted: wait
    assert of(out, LiquidationStarted)
    assert [c.reason for c in of(out, CancelOrder)] == [5]  # EndReason.LIQUIDATION
    assert not of(out, LiquidationOrderPlaced) and not of(out, AutoDeleveraged)
    rej = of(p.submit(order(5, 1, -1, 1, 94)), PreTradeRejected)[0]
    assert rej.reason in (Reason.ACCOUNT_IN_LIQUIDATION, Reason.MARKET_HALTED)
    p.submit(order(6, 3, 1, 1_000, 93))  # refused too: halted
    out = p.submit(MarketResume(7))
    assert of(out, AutoDeleveraged) or of(out, LiquidationOrderPlaced)
    assert p.clearing.position(1, "X")[0] == 0
    p.clearing.validate()


def test_price_formulas_worked() -> None:
    # long 1,000 at mark 94, m 1, E 4,000, MM 4,700, whole position
    assert bankruptcy_price(1_000, 1_000, 94, 1, 4_000, 4_700, 4_700, 0, 1) == 90
    # short 1,000 at mark 106, E 4,000, MM 5,300: may pay at most 106,000 + 4,000
    assert bankruptcy_price(-1_000, 1_000, 106, 1, 4_000, 5_300, 5_300, 0, 1) == 110
    # half the position with half the MM: half the equity allocated
    assert bankruptcy_price(1_000, 500, 94, 1, 4_000, 4_700, 4_700, 2_350, 1) == 90
    assert fillable_price(1_000, 94, 1, 4_000, 4_700, 4_700, PPM, 1_500_000, 1) == 93
    # ticks: sale rounded up, purchase down
    assert bankruptcy_price(1_000, 1_000, 94, 1, 4_000, 4_700, 4_700, 0, 4) == 92
    assert bankruptcy_price(-1_000, 1_000, 106, 1, 4_000, 5_300, 5_300, 0, 4) == 108


def test_liquidation_price_matches_closed_form() -> None:
    # one long 1,000 @ mark 100, E 10,000, MMF 5 %: p' = (E - s.P) / (|s|.MMF - s)
    # = (10,000 - 100,000) / (50 - 1,000) = 94.74 -> liquidatable at 94 and below
    mm = TierSchedule([], [50_000])
    assert liquidation_price(10_000, 5_000, 1_000, 100, 1, 5_000, mm) == 94
    # short 1,000 @ 100: p' = (10,000 + 100,000) / (50 + 1,000) = 104.76 -> from 105
    assert liquidation_price(10_000, 5_000, -1_000, 100, 1, 5_000, mm) == 105


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 10_000).flatmap(lambda n: st.sampled_from([n, -n])),
    frac=st.integers(1, PPM),
    mark=st.integers(50, 200_000),
    mult=st.integers(1, 100),
    other_mm=st.integers(0, 10**9),
    eq_ppm=st.integers(-2 * PPM, PPM - 1),
    better=st.integers(0, 1_000),
    fee_ppm=st.integers(0, 50_000),
    tick=st.sampled_from([1, 5]),
)
def test_fill_at_or_better_than_bankruptcy_never_lowers_ratio(
    size: int, frac: int, mark: int, mult: int, other_mm: int, eq_ppm: int, better: int,
    fee_ppm: int, tick: int,
) -> None:
    mm_of = TierSchedule([10**9], [50_000, 100_000])
    pos_mm = mm_of(abs(size) * mark * mult)
    total_mm = pos_mm + other_mm
    equity = total_mm * eq_ppm // PPM  # below maintenance: E < MM
    qty = max(1, abs(size) * frac // PPM)
    after = mm_of((abs(size) - qty) * mark * mult)
    p_b = bankruptcy_price(size, qty, mark, mult, equity, total_mm, pos_mm, after, tick)
    sell = size > 0
    if not sell and p_b <= 0:
        return  # no price can keep the ratio; the fund and ADL take over
    price = p_b + better * tick if sell else max(p_b - better * tick, 1)
    if not sell and price > p_b:
        return
    d = -qty if sell else qty
    e2 = equity + d * (mark - price) * mult  # cash -d.price.m, position value +d.mark.m
    surplus = -(-1 if sell else 1) * (price - p_b) * qty * mult
    if surplus > 0:
        e2 -= min(-((-qty * price * mult * fee_ppm) // PPM), surplus)
    mm2 = total_mm - pos_mm + after
    assert e2 * total_mm >= equity * mm2

"""Settlement: fills applied once by seq, duplicates ignored, gaps stop and resume;
property test over random flows: conservation, holds, caches (validate) after every step."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.commands import CancelRequest, IndexPrice, MatcherEvents, OrderRequest, Tick
from clearing.engine import ClearingEngine
from clearing.events import FillSettled, OrderAdmitted, SettlementGap, SettlementResumed
from clearing.pipeline import MATCHER_COMMANDS, Pipeline
from matching.engine import MatchingEngine
from matching.reasons import Reason
from tests.clearing.conftest import make_config
from tests.clearing.helpers import of, order, trade


def test_fill_moves_cash_fees_and_positions() -> None:
    p = Pipeline.from_config(make_config(X={"taker_fee_ppm": 500, "maker_fee_ppm": -100}))
    out = trade(p, 1, buyer=1, seller=3, qty=100, price=100)
    fills = {f.account: f for f in of(out, FillSettled)}
    assert fills[1].fee == 5 and fills[3].fee == -1  # 10,000 notional: 5 bp / -1 bp
    c = p.clearing
    assert c.position(1, "X") == (100, 10_000) and c.position(3, "X") == (-100, -10_000)
    assert c.accounts[1].balances["USD"] == 10_000 - 10_000 - 5
    assert c.accounts[3].balances["USD"] == 1_000_000 + 10_000 + 1
    assert c.fee_pool["USD"] == 4
    c.validate()


def test_realized_pnl_on_close() -> None:
    p = Pipeline.from_config(make_config())
    trade(p, 1, buyer=1, seller=3, qty=100, price=100)
    p.submit(IndexPrice(2, "X", 103))
    out = trade(p, 3, buyer=3, seller=1, qty=40, price=103)
    f = next(x for x in of(out, FillSettled) if x.account == 1)
    assert f.realized_pnl == 40 * 3 and f.position == 60
    assert p.clearing.position(1, "X") == (60, 6_000)


def _flow_events() -> tuple[list, list]:
    """Run a small flow through a pipeline; return clearing inputs and matcher events."""
    p = Pipeline.from_config(make_config())
    cmds = [order(1, 3, -1, 50, 101), order(2, 3, -1, 50, 102), order(3, 1, 1, 80, 102),
            order(4, 2, 1, 10, 99), order(5, 3, -1, 30, 99)]  # fmt: skip
    matcher_cmds = []
    for c in cmds:
        outs = p.clearing.apply(c)
        matcher_cmds += [o for o in outs if type(o) in MATCHER_COMMANDS]
    m = MatchingEngine([s.matcher_instrument() for s in make_config().instruments.values()])
    events = []
    for mc in matcher_cmds:
        events += m.apply(mc)
    return cmds, events


def _fresh_with_orders(cmds: list) -> ClearingEngine:
    c = ClearingEngine(make_config())
    for cmd in cmds:
        c.apply(cmd)
    return c


def test_duplicates_ignored_and_gap_stops_until_filled() -> None:
    cmds, events = _flow_events()
    ref = _fresh_with_orders(cmds)
    ref.apply(MatcherEvents(10, events))
    c = _fresh_with_orders(cmds)
    half = len(events) // 2
    c.apply(MatcherEvents(10, events[:half]))
    c.apply(MatcherEvents(10, events[: half + 1]))  # duplicates of what came before
    out = c.apply(MatcherEvents(10, events[half + 2 :]))  # one event missing
    gap = of(out, SettlementGap)
    assert gap and gap[0].expected_seq == events[half + 1].seq
    assert c.last_seq == events[half].seq
    rej = c.apply(order(10, 2, 1, 1, 95))
    assert rej[0].reason == Reason.SETTLEMENT_STOPPED
    out = c.apply(MatcherEvents(10, [events[half + 1]]))
    assert of(out, SettlementResumed)
    assert c.last_seq == events[-1].seq
    a, b = c.export_state(), ref.export_state()
    for s in (a, b):
        s["ts"] = 0
        s["engine"]["reject_counts"] = {}
    assert a == b
    c.validate()


def test_gap_with_shuffled_delivery_converges() -> None:
    cmds, events = _flow_events()
    ref = _fresh_with_orders(cmds)
    ref.apply(MatcherEvents(10, events))
    rng = random.Random(7)
    shuffled = events[:] + events[: len(events) // 3]
    rng.shuffle(shuffled)
    c = _fresh_with_orders(cmds)
    for i in range(0, len(shuffled), 3):
        c.apply(MatcherEvents(10, shuffled[i : i + 3]))
    assert c.export_state() == ref.export_state()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(1, 3), st.sampled_from([1, -1]),
                          st.integers(1, 60), st.integers(94, 106)), min_size=5, max_size=40))
def test_random_flows_conserve_and_balance_holds(steps: list) -> None:
    p = Pipeline.from_config(make_config(X={"taker_fee_ppm": 700, "maker_fee_ppm": -200,
                                            "mark_band_ppm": 30_000}))  # fmt: skip
    c = p.clearing
    live: list[tuple[int, int]] = []
    ts = 0
    for kind, acct, side, qty, price in steps:
        ts += 1_000_000_000
        if kind == 0 and live:
            a, oid = live.pop(qty % len(live))
            p.submit(CancelRequest(ts, a, "X", oid))
        elif kind == 1:
            p.submit(IndexPrice(ts, "X", price))
        elif kind == 2:
            p.submit(Tick(ts + 3_600_000_000_000))
            ts += 3_600_000_000_000
        else:
            tif = 3 if kind == 3 else 1
            out = p.submit(OrderRequest(ts, acct, "X", side, qty * 10, price, tif=tif))
            live += [(o.account, o.order_id) for o in of(out, OrderAdmitted)]
        c.validate()  # caches, holds >= 0, placed = released + settled + held, conservation
    for a, oid in live:
        p.submit(CancelRequest(ts + 1, a, "X", oid))
    c.validate()
    for acct in c.accounts.values():
        if not acct.orders:
            assert acct.held == 0
            assert acct.placed == acct.released + acct.settled

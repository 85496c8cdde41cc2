"""Price band: no trade ever prints outside the band in force.

Limit orders priced through the band are rejected; a taker stops at the first maker
outside the band (makers that rested before the band moved included); market orders are
capped by it; the call auction uncrosses inside it.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import (
    AmendOrder,
    BandChanged,
    EndReason,
    Fill,
    Instrument,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    OrderExpired,
    OrdType,
    Reason,
    Resume,
    SetBand,
    TimeInForce,
)
from tests.matching.helpers import BUY, SELL, buy, fills, frozen_state, ids, market, of, run, sell


def test_band_change_is_reported_and_can_be_cleared(engine: MatchingEngine) -> None:
    (changed,) = run(engine, SetBand(1, "X", 90, 110))
    assert type(changed) is BandChanged and (changed.low, changed.high) == (90, 110)
    assert (engine.books["X"].band_low, engine.books["X"].band_high) == (90, 110)
    (changed,) = run(engine, SetBand(2, "X", None, None))
    assert (changed.low, changed.high) == (None, None)
    assert kinds_of(run(engine, buy(1, 1, 10_000))) == ["OrderAccepted"]


def kinds_of(events: list) -> list[str]:
    return [type(e).__name__ for e in events if type(e).__name__ != "LevelChanged"]


def test_limit_orders_through_the_band_are_rejected(engine: MatchingEngine) -> None:
    run(engine, SetBand(1, "X", 90, 110))
    before = frozen_state(engine)
    for cmd in (buy(1, 1, 111), sell(2, 1, 89)):
        (rejected,) = engine.apply(cmd)
        assert rejected.reason == Reason.PRICE_OUTSIDE_BAND
    assert frozen_state(engine) == before
    # passive prices beyond the far edge are fine: they simply cannot trade there
    assert kinds_of(run(engine, buy(3, 1, 80), sell(4, 1, 120))) == ["OrderAccepted"] * 2
    assert kinds_of(run(engine, buy(5, 1, 110), sell(6, 1, 111))) == ["OrderAccepted"] * 2


def test_one_sided_band(engine: MatchingEngine) -> None:
    run(engine, SetBand(1, "X", None, 105))
    assert engine.apply(buy(1, 1, 106))[0].reason == Reason.PRICE_OUTSIDE_BAND
    assert kinds_of(run(engine, sell(2, 1, 1))) == ["OrderAccepted"]


def test_taker_stops_at_the_first_maker_outside_the_band(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 100), sell(2, 5, 105), sell(3, 5, 112))
    run(engine, SetBand(1, "X", 90, 110))
    events = run(engine, market(9, BUY, 15, 120))  # protection beyond the band: capped
    assert fills(events) == [(100, 5, 9, 1), (105, 5, 9, 2)]
    (expired,) = of(events, OrderExpired)
    assert (expired.expired_qty, expired.reason) == (5, EndReason.PRICE_BAND)
    assert ids(engine) == ([], [3])


def test_makers_left_below_a_raised_band_do_not_trade(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 95), buy(2, 5, 90))
    run(engine, SetBand(1, "X", 100, 110))  # the resting ask at 95 is now outside
    before = frozen_state(engine)
    events = run(engine, buy(3, 5, 105))
    assert not of(events, Fill)
    (expired,) = of(events, OrderExpired)
    # it cannot rest either (the book would cross), so the whole order expires
    assert (expired.order_id, expired.expired_qty, expired.reason) == (3, 5, EndReason.PRICE_BAND)
    assert frozen_state(engine) == before
    # selling into the stranded bid is refused by the band check on the limit itself
    assert engine.apply(sell(4, 5, 90))[0].reason == Reason.PRICE_OUTSIDE_BAND


def test_makers_above_a_lowered_band_do_not_trade(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 105), buy(2, 5, 95))
    run(engine, SetBand(1, "X", 90, 100))
    events = run(engine, market(3, SELL, 8, 1))
    assert not of(events, Fill)
    assert of(events, OrderExpired)[0].reason == EndReason.PRICE_BAND


def test_market_sell_is_capped_by_the_low_edge(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99), buy(2, 5, 97), buy(3, 5, 94))
    run(engine, SetBand(1, "X", 95, 110))
    events = run(engine, market(9, SELL, 20, 1))
    assert fills(events) == [(99, 5, 9, 1), (97, 5, 9, 2)]
    assert of(events, OrderExpired)[0].reason == EndReason.PRICE_BAND


def test_amend_through_the_band_is_refused(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99), SetBand(1, "X", 90, 110))
    (rejected,) = engine.apply(AmendOrder(2, "X", 1, 1, price=111))
    assert rejected.reason == Reason.PRICE_OUTSIDE_BAND


def test_auction_uncrosses_inside_the_band(engine: MatchingEngine) -> None:
    run(engine, OpenAuction(1, "X"), buy(1, 5, 110), sell(2, 5, 90), SetBand(2, "X", 95, 105))
    events = run(engine, Resume(3, "X"))  # no reference: the lowest tied price, kept in band
    assert {f.price for f in of(events, Fill)} == {95}
    run(engine, OpenAuction(4, "X"), buy(3, 5, 105, ts=4), sell(4, 5, 95, ts=4))
    events = run(engine, Resume(5, "X", 200))  # reference far above: nearest is the edge
    assert {f.price for f in of(events, Fill)} == {105}


def test_auction_with_nothing_tradable_in_the_band_stays_in_the_call(
    engine: MatchingEngine,
) -> None:
    run(engine, OpenAuction(1, "X"), buy(1, 5, 92), sell(2, 5, 91), SetBand(2, "X", 95, 105))
    before = frozen_state(engine)
    (rejected,) = engine.apply(Resume(3, "X"))
    assert rejected.reason == Reason.BOOK_STILL_CROSSED
    assert frozen_state(engine) == before


# -- property: whatever happens, every print is inside the band in force -----------------

STEP = st.one_of(
    st.tuples(st.just("band"), st.integers(80, 100), st.integers(100, 120), st.booleans()),
    st.tuples(
        st.just("order"),
        st.sampled_from([BUY, SELL]),
        st.integers(1, 8),
        st.integers(85, 115),
        st.sampled_from(["limit", "ioc", "market"]),
        st.integers(1, 3),
    ),
    st.tuples(st.just("auction"), st.booleans()),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=40))
def test_no_trade_prints_outside_the_band_in_force(steps: list[tuple]) -> None:
    engine = MatchingEngine([Instrument("X")])
    band: tuple[int | None, int | None] = (None, None)
    for ts, step in enumerate(steps, start=1):
        if step[0] == "band":
            _, low, high, clear = step
            cmd: object = SetBand(ts, "X", None, None) if clear else SetBand(ts, "X", low, high)
        elif step[0] == "auction":
            cmd = OpenAuction(ts, "X") if step[1] else Resume(ts, "X")
        else:
            _, side, qty, price, kind, acct = step
            ord_type = OrdType.MARKET if kind == "market" else OrdType.LIMIT
            tif = TimeInForce.GTC if kind == "limit" else TimeInForce.IOC
            cmd = NewOrder(ts, "X", ts, acct, side, qty, price, ord_type=int(ord_type),
                           tif=int(tif))  # fmt: skip
        events = engine.apply(cmd)
        for e in events:
            if type(e) is BandChanged:
                band = (e.low, e.high)
            if type(e) is Fill:
                low, high = band
                assert low is None or e.price >= low, (e, band)
                assert high is None or e.price <= high, (e, band)
        engine.validate()

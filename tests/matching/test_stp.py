"""Self-trade prevention: the taker's mode decides; every prevented match is an event.

Book for most tests (instrument ``X``): asks 5@101 from account 3 (id 1, "own" for the
taker below), then 5@101 from account 2 (id 2). The taker is account 3 buying at 101.
"""

from __future__ import annotations

import pytest

from matching import (
    AmendOrder,
    CancelOrder,
    EndReason,
    Fill,
    MatchingEngine,
    OpenAuction,
    OrderExpired,
    Resume,
    SelfTradePrevented,
    StpMode,
)
from tests.matching.helpers import SELL, buy, fills, ids, kinds, of, run, sell

OWN = 3


def own_first(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=OWN), sell(2, 5, 101, acct=2))


def test_none_lets_an_account_trade_with_itself(engine: MatchingEngine) -> None:
    own_first(engine)
    events = run(engine, buy(10, 5, 101, acct=OWN, stp=int(StpMode.NONE)))
    (fill,) = of(events, Fill)
    assert (fill.taker_account, fill.maker_account, fill.maker_order_id) == (OWN, OWN, 1)
    assert not of(events, SelfTradePrevented)


def test_expire_taker(engine: MatchingEngine) -> None:
    own_first(engine)
    events = run(engine, buy(10, 8, 101, acct=OWN, stp=int(StpMode.EXPIRE_TAKER)))
    assert kinds(events) == ["OrderAccepted", "SelfTradePrevented", "OrderExpired"]
    stp = events[1]
    assert (stp.mode, stp.account, stp.taker_order_id, stp.maker_order_id, stp.qty) == (
        StpMode.EXPIRE_TAKER, OWN, 10, 1, 5,
    )  # fmt: skip
    expired = of(events, OrderExpired)[0]
    assert (expired.order_id, expired.expired_qty, expired.reason) == (10, 8, EndReason.SELF_TRADE)
    assert ids(engine) == ([], [1, 2])  # the maker is untouched, nothing traded
    assert engine.books["X"].last_price is None  # a prevented match is not a trade


def test_expire_taker_after_trading_with_others_first(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 100, acct=2), sell(2, 5, 101, acct=OWN))
    events = run(engine, buy(10, 8, 101, acct=OWN, stp=int(StpMode.EXPIRE_TAKER)))
    assert fills(events) == [(100, 5, 10, 1)]
    expired = of(events, OrderExpired)[0]
    assert (expired.expired_qty, expired.cum_qty) == (3, 5)
    assert engine.books["X"].last_price == 100


def test_expire_maker(engine: MatchingEngine) -> None:
    own_first(engine)
    events = run(engine, buy(10, 8, 101, acct=OWN, stp=int(StpMode.EXPIRE_MAKER)))
    assert kinds(events) == ["OrderAccepted", "SelfTradePrevented", "OrderExpired", "Fill"]
    maker_gone = events[2]
    assert (maker_gone.order_id, maker_gone.expired_qty, maker_gone.reason) == (
        1, 5, EndReason.SELF_TRADE,
    )  # fmt: skip
    assert fills(events) == [(101, 5, 10, 2)]
    assert ids(engine) == ([10], [])  # taker rests its remainder 3
    assert engine.orders[10].leaves == 3 and 1 not in engine.orders


def test_expire_both(engine: MatchingEngine) -> None:
    run(engine, sell(1, 2, 100, acct=2), sell(2, 5, 101, acct=OWN), sell(3, 5, 101, acct=2))
    events = run(engine, buy(10, 8, 101, acct=OWN, stp=int(StpMode.EXPIRE_BOTH)))
    assert kinds(events) == [
        "OrderAccepted", "Fill", "SelfTradePrevented", "OrderExpired", "OrderExpired",
    ]  # fmt: skip
    maker, taker = of(events, OrderExpired)
    assert (maker.order_id, maker.expired_qty, maker.reason) == (2, 5, EndReason.SELF_TRADE)
    assert (taker.order_id, taker.expired_qty, taker.cum_qty) == (10, 6, 2)
    assert taker.reason == EndReason.SELF_TRADE
    assert ids(engine) == ([], [3])


def test_decrement_larger_taker_continues(engine: MatchingEngine) -> None:
    own_first(engine)
    events = run(engine, buy(10, 8, 101, acct=OWN, stp=int(StpMode.DECREMENT)))
    stp = of(events, SelfTradePrevented)[0]
    assert (stp.mode, stp.qty) == (StpMode.DECREMENT, 5)
    (maker_gone,) = of(events, OrderExpired)
    # the maker's 5 were taken away by the prevention itself: it ends with nothing left
    assert (maker_gone.order_id, maker_gone.expired_qty, maker_gone.cum_qty) == (1, 0, 0)
    assert fills(events) == [(101, 3, 10, 2)]  # 8 - 5 decremented = 3 left to trade
    assert ids(engine) == ([], [2])
    assert engine.orders[2].leaves == 2
    assert 10 not in engine.orders


def test_decrement_smaller_taker_shrinks_the_maker_in_place(engine: MatchingEngine) -> None:
    own_first(engine)
    events = run(engine, buy(10, 3, 101, acct=OWN, stp=int(StpMode.DECREMENT)))
    assert kinds(events) == ["OrderAccepted", "SelfTradePrevented", "OrderExpired"]
    (taker,) = of(events, OrderExpired)
    assert (taker.order_id, taker.expired_qty, taker.reason) == (10, 0, EndReason.SELF_TRADE)
    maker = engine.orders[1]
    assert (maker.qty, maker.leaves, maker.cum) == (2, 2, 0)
    assert ids(engine) == ([], [1, 2])  # the maker keeps its place
    assert engine.books["X"].depth()[1] == [(101, 7)]


def test_decrement_equal_sizes_end_both(engine: MatchingEngine) -> None:
    own_first(engine)
    events = run(engine, buy(10, 5, 101, acct=OWN, stp=int(StpMode.DECREMENT)))
    assert [(e.order_id, e.expired_qty) for e in of(events, OrderExpired)] == [(1, 0), (10, 0)]
    assert ids(engine) == ([], [2])


def test_decrement_of_a_partially_filled_maker(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=OWN), buy(2, 2, 101, acct=2))  # maker cum 2, leaves 3
    events = run(engine, buy(10, 1, 101, acct=OWN, stp=int(StpMode.DECREMENT)))
    assert of(events, SelfTradePrevented)[0].qty == 1
    maker = engine.orders[1]
    assert (maker.qty, maker.leaves, maker.cum) == (4, 2, 2)


def test_stp_only_applies_to_the_same_account(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=2))
    events = run(engine, buy(10, 5, 101, acct=OWN, stp=int(StpMode.EXPIRE_TAKER)))
    assert fills(events) == [(101, 5, 10, 1)]


def test_the_taker_decides_not_the_maker(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=OWN, stp=int(StpMode.EXPIRE_BOTH)))
    events = run(engine, buy(10, 5, 101, acct=OWN, stp=int(StpMode.NONE)))
    assert fills(events) == [(101, 5, 10, 1)]


@pytest.mark.parametrize("mode", [m for m in StpMode if m != StpMode.NONE])
def test_every_mode_reports_the_prevented_match_and_levels(
    engine: MatchingEngine, mode: StpMode
) -> None:
    own_first(engine)
    events = run(engine, buy(10, 5, 101, acct=OWN, stp=int(mode)))
    (stp,) = of(events, SelfTradePrevented)
    assert (stp.taker_order_id, stp.maker_order_id, stp.mode) == (10, 1, mode)
    book = engine.books["X"]
    level = [e for e in events if type(e).__name__ == "LevelChanged"][-1]
    assert (level.side, level.price) == (SELL, 101)
    assert level.qty == (book.depth()[1][0][1] if book.asks else 0)


def test_amend_into_own_order_uses_the_amended_orders_mode(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=OWN), buy(10, 5, 99, acct=OWN, stp=int(StpMode.EXPIRE_TAKER)))
    events = run(engine, AmendOrder(2, "X", 10, OWN, price=101))
    assert kinds(events) == ["OrderAmended", "SelfTradePrevented", "OrderExpired"]
    assert of(events, OrderExpired)[0].order_id == 10
    assert ids(engine) == ([], [1])


def test_amend_decremented_to_nothing_reports_its_end(engine: MatchingEngine) -> None:
    """Regression: the amended order used to vanish with no terminal event."""
    run(engine, sell(1, 10, 101, acct=OWN), buy(2, 4, 99, acct=OWN, stp=int(StpMode.DECREMENT)))
    events = run(engine, AmendOrder(2, "X", 2, OWN, price=101))
    assert kinds(events) == ["OrderAmended", "SelfTradePrevented", "OrderExpired"]
    end = events[-1]
    assert (end.order_id, end.expired_qty, end.reason) == (2, 0, EndReason.SELF_TRADE)
    assert 2 not in engine.orders and engine.orders[1].leaves == 6


def test_prevented_match_does_not_set_the_last_price(engine: MatchingEngine) -> None:
    """Regression: last_price (the auction's default reference) moved with no trade."""
    run(engine, sell(1, 5, 109, acct=OWN))
    run(engine, buy(10, 5, 109, acct=OWN, stp=int(StpMode.EXPIRE_TAKER)))
    assert engine.books["X"].last_price is None
    run(engine, CancelOrder(2, "X", 1, OWN))
    # so a later uncross with no reference breaks its 100-or-110 tie by the lowest price,
    # not by the 109 that never traded
    run(engine, OpenAuction(2, "X"), buy(20, 5, 110, acct=1), sell(21, 5, 100, acct=2))
    events = run(engine, Resume(3, "X"))
    assert [(f.price, f.qty, f.aggressor, f.taker_order_id) for f in of(events, Fill)] == [
        (100, 5, 0, 20),
    ]  # fmt: skip

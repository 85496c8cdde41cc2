"""Amend rules: quantity down keeps queue position; a price change or quantity up goes to
the back of its (new) level and may trade; post-only amends that would take are refused;
an amend to a quantity at or below what already filled is invalid.
"""

from __future__ import annotations

from matching import (
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    CancelRejected,
    EndReason,
    Fill,
    Instrument,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    OrderAmended,
    OrderExpired,
    Reason,
    SetBand,
    TimeInForce,
)
from tests.matching.helpers import BUY, SELL, buy, fills, frozen_state, ids, kinds, of, run, sell


def queue(engine: MatchingEngine) -> None:
    """Bids at 99: ids 1 (5), 2 (5), 3 (5) in that order; a bid 4 at 98; asks 6 at 101."""
    run(engine, buy(1, 5, 99), buy(2, 5, 99, acct=4), buy(3, 5, 99, acct=5), buy(4, 5, 98),
        sell(6, 5, 101))  # fmt: skip


def test_quantity_down_keeps_queue_position(engine: MatchingEngine) -> None:
    queue(engine)
    events = run(engine, AmendOrder(2, "X", 1, 1, qty=2))
    amended, level = events
    assert type(amended) is OrderAmended
    assert (amended.price, amended.qty, amended.leaves_qty, amended.cum_qty) == (99, 2, 2, 0)
    assert amended.kept_priority is True
    assert (level.side, level.price, level.qty, level.count) == (BUY, 99, 12, 3)
    assert ids(engine)[0] == [1, 2, 3, 4]
    assert fills(run(engine, sell(9, 3, 99, acct=7))) == [(99, 2, 9, 1), (99, 1, 9, 2)]


def test_quantity_down_of_a_partially_filled_order(engine: MatchingEngine) -> None:
    queue(engine)
    run(engine, sell(9, 3, 99, acct=7))  # order 1: cum 3, leaves 2
    (amended, _) = run(engine, AmendOrder(2, "X", 1, 1, qty=4))
    assert (amended.qty, amended.leaves_qty, amended.cum_qty, amended.kept_priority) == (
        4, 1, 3, True,
    )  # fmt: skip
    order = engine.orders[1]
    assert (order.qty, order.leaves, order.cum) == (4, 1, 3)
    assert ids(engine)[0][0] == 1


def test_quantity_up_goes_to_the_back(engine: MatchingEngine) -> None:
    queue(engine)
    events = run(engine, AmendOrder(2, "X", 1, 1, qty=6))
    assert of(events, OrderAmended)[0].kept_priority is False
    assert ids(engine)[0] == [2, 3, 1, 4]
    assert engine.books["X"].depth()[0][0] == (99, 16)


def test_price_change_goes_to_the_back_of_the_new_level(engine: MatchingEngine) -> None:
    queue(engine)
    events = run(engine, AmendOrder(2, "X", 1, 1, price=98))
    assert of(events, OrderAmended)[0].kept_priority is False
    assert ids(engine)[0] == [2, 3, 4, 1]
    # even a move away and straight back loses the place
    run(engine, AmendOrder(3, "X", 1, 1, price=99))
    assert ids(engine)[0] == [2, 3, 1, 4]


def test_price_change_empties_and_removes_the_old_level(engine: MatchingEngine) -> None:
    queue(engine)
    events = run(engine, AmendOrder(2, "X", 4, 1, price=97))
    levels = [(e.price, e.qty, e.count) for e in events if type(e).__name__ == "LevelChanged"]
    assert levels == [(98, 0, 0), (97, 5, 1)]
    assert [p for p, _ in engine.books["X"].depth()[0]] == [99, 97]


def test_price_change_that_crosses_trades_then_rests(engine: MatchingEngine) -> None:
    queue(engine)
    events = run(engine, AmendOrder(2, "X", 3, 5, price=101, qty=8))
    assert kinds(events) == ["OrderAmended", "Fill"]
    (fill,) = of(events, Fill)
    assert (fill.price, fill.qty, fill.aggressor, fill.taker_order_id) == (101, 5, BUY, 3)
    assert (fill.taker_cum, fill.taker_leaves) == (5, 3)
    assert engine.books["X"].depth() == ([(101, 3), (99, 10), (98, 5)], [])
    assert ids(engine)[0][0] == 3


def test_price_change_that_fills_completely_leaves_the_book(engine: MatchingEngine) -> None:
    queue(engine)
    events = run(engine, AmendOrder(2, "X", 6, 2, price=99))
    assert fills(events) == [(99, 5, 6, 1)]  # sells into the best bid, at the bid's price
    assert 6 not in engine.orders
    assert not of(events, OrderExpired)
    assert engine.open_orders(2) == []


def test_amend_that_crosses_into_a_maker_outside_the_band(engine: MatchingEngine) -> None:
    queue(engine)
    run(engine, SetBand(2, "X", 90, 98))  # the best bid (99) now sits above the band
    events = run(engine, AmendOrder(3, "X", 6, 2, price=98))
    assert not of(events, Fill)
    (expired,) = of(events, OrderExpired)
    assert (expired.order_id, expired.reason) == (6, EndReason.PRICE_BAND)
    assert 6 not in engine.orders


def test_post_only_amend_that_would_take_is_refused(engine: MatchingEngine) -> None:
    queue(engine)
    run(engine, sell(7, 5, 102, acct=2, post_only=True))
    before = frozen_state(engine)
    (rejected,) = engine.apply(AmendOrder(2, "X", 7, 2, price=99))
    assert type(rejected) is CancelRejected
    assert (rejected.reason, rejected.response_to) == (Reason.POST_ONLY_WOULD_TAKE, 2)
    assert frozen_state(engine) == before
    # a post-only amend that stays passive is fine
    (amended, *_) = run(engine, AmendOrder(3, "X", 7, 2, price=100))
    assert amended.price == 100


def test_amend_to_qty_at_or_below_cum_is_invalid(engine: MatchingEngine) -> None:
    queue(engine)
    run(engine, sell(9, 3, 99, acct=7))  # order 1: cum 3
    for qty in (1, 3):
        (rejected,) = engine.apply(AmendOrder(2, "X", 1, 1, qty=qty))
        assert rejected.reason == Reason.INVALID_AMEND
    assert engine.orders[1].leaves == 2


def test_amend_in_a_call_auction_may_cross_without_trading(engine: MatchingEngine) -> None:
    queue(engine)
    run(engine, OpenAuction(2, "X"))
    events = run(engine, AmendOrder(3, "X", 1, 1, price=105))
    assert kinds(events) == ["OrderAmended"]
    assert engine.books["X"].is_crossed()


def test_amend_keeps_identity_client_id_and_expiry(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99, ts=1, client_order_id="k", tif=int(TimeInForce.GTD), expire_ts=50))
    (amended, *_) = run(engine, AmendOrder(2, "X", 1, 1, price=97, qty=9))
    assert (amended.order_id, amended.client_order_id) == (1, "k")
    assert engine.accounts[1]["k"] is engine.orders[1]
    (expired, _) = run(engine, AdvanceTime(50))
    assert (expired.order_id, expired.reason, expired.expired_qty) == (1, EndReason.GTD_EXPIRED, 9)


def test_amend_sell_side_priority(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101), sell(2, 5, 101, acct=4))
    run(engine, AmendOrder(2, "X", 1, 2, qty=4))
    assert ids(engine)[1] == [1, 2]
    run(engine, AmendOrder(3, "X", 1, 2, qty=6))
    assert ids(engine)[1] == [2, 1]
    assert engine.books["X"].depth()[1] == [(101, 11)]
    assert engine.orders[1].side == SELL


def test_amend_below_the_minimum_quantity_is_refused() -> None:
    engine = MatchingEngine([Instrument("Z", min_qty=5, max_qty=100)])
    run(engine, NewOrder(1, "Z", 1, 1, 1, 10, 100))
    (rej,) = engine.apply(AmendOrder(2, "Z", 1, 1, qty=2))
    assert rej.reason == Reason.QUANTITY_TOO_SMALL
    assert engine.orders[1].qty == 10 and engine.orders[1].leaves == 10


def test_cancel_reason_may_be_an_end_reason_member(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99))
    (canceled, _) = engine.apply(CancelOrder(2, "X", 1, 1, EndReason.RISK))
    assert canceled.reason == EndReason.RISK

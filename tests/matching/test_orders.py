"""Every order type and time in force: GTC, IOC, FOK, GTD, market with protection, post-only.

Instrument ``X`` (tick 1, lot 1) from ``conftest.py``. Account 1 buys, account 2 sells and
account 3 is a third party unless a test says otherwise.
"""

from __future__ import annotations

from matching import (
    AdvanceTime,
    CancelOrder,
    CancelRejected,
    EndReason,
    Fill,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    OrderAccepted,
    OrderExpired,
    OrderRejected,
    OrdType,
    Reason,
    SelfTradePrevented,
    SetBand,
    StpMode,
    TimeInForce,
)
from tests.matching.helpers import (
    BUY,
    SELL,
    buy,
    fills,
    frozen_state,
    ids,
    kinds,
    market,
    of,
    run,
    sell,
)

IOC = int(TimeInForce.IOC)
FOK = int(TimeInForce.FOK)
GTD = int(TimeInForce.GTD)


def ladder(engine: MatchingEngine) -> None:
    """Asks 5@101 (id 1), 5@102 (id 2), 5@103 (id 3); bids 5@99 (id 4), 5@98 (id 5)."""
    run(
        engine,
        sell(1, 5, 101), sell(2, 5, 102), sell(3, 5, 103),
        buy(4, 5, 99), buy(5, 5, 98),
    )  # fmt: skip


# -- GTC ---------------------------------------------------------------------------------


def test_gtc_rests_and_reports_accepted_then_level(engine: MatchingEngine) -> None:
    events = engine.apply(buy(1, 5, 99, client_order_id="mine", reduce_only=True))
    accepted, level = events
    assert type(accepted) is OrderAccepted
    assert (accepted.order_id, accepted.client_order_id, accepted.qty, accepted.price) == (
        1, "mine", 5, 99,
    )  # fmt: skip
    assert accepted.reduce_only is True  # carried through for clearing
    assert (level.side, level.price, level.qty, level.count) == (BUY, 99, 5, 1)
    assert engine.books["X"].depth() == ([(99, 5)], [])
    assert engine.orders[1].cmd.reduce_only is True


def test_gtc_sweeps_in_price_order_at_maker_prices_then_rests(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, buy(10, 12, 102, acct=3))
    assert fills(events) == [(101, 5, 10, 1), (102, 5, 10, 2)]
    assert kinds(events) == ["OrderAccepted", "Fill", "Fill"]
    bids, asks = engine.books["X"].depth()
    assert bids[0] == (102, 2)  # remainder rests at its own limit
    assert asks == [(103, 5)]
    last = of(events, Fill)[-1]
    assert (last.taker_cum, last.taker_leaves, last.maker_cum, last.maker_leaves) == (10, 2, 5, 0)
    assert engine.orders[10].leaves == 2 and engine.orders[10].cum == 10


def test_fill_event_fields(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=7))
    (fill,) = of(run(engine, buy(2, 3, 105, acct=8)), Fill)
    assert fill.trade_id == 1
    assert (fill.price, fill.qty, fill.aggressor) == (101, 3, BUY)
    assert (fill.taker_order_id, fill.taker_account, fill.taker_cum, fill.taker_leaves) == (
        2, 8, 3, 0,
    )  # fmt: skip
    assert (fill.maker_order_id, fill.maker_account, fill.maker_cum, fill.maker_leaves) == (
        1, 7, 3, 2,
    )  # fmt: skip
    (fill2,) = of(run(engine, sell(3, 1, 101, acct=9), buy(4, 1, 101, acct=8)), Fill)
    assert fill2.trade_id == 2 and fill2.maker_order_id == 1  # id 1 is older than id 3


def test_time_priority_within_a_level(engine: MatchingEngine) -> None:
    run(engine, sell(1, 2, 101), sell(2, 2, 101, acct=4), sell(3, 2, 100, acct=5))
    events = run(engine, buy(9, 5, 101, acct=3))
    assert [f[3] for f in fills(events)] == [3, 1, 2]  # better price first, then FIFO


# -- IOC ---------------------------------------------------------------------------------


def test_ioc_fills_what_it_can_and_expires_the_rest(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, buy(10, 8, 101, acct=3, tif=IOC))
    assert fills(events) == [(101, 5, 10, 1)]
    (expired,) = of(events, OrderExpired)
    assert (expired.order_id, expired.expired_qty, expired.cum_qty) == (10, 3, 5)
    assert expired.reason == EndReason.IOC_REMAINDER
    assert 10 not in engine.orders
    assert engine.books["X"].depth()[0] == [(99, 5), (98, 5)]


def test_ioc_that_does_not_cross_expires_whole(engine: MatchingEngine) -> None:
    ladder(engine)
    before = frozen_state(engine)
    events = run(engine, buy(10, 8, 100, acct=3, tif=IOC))
    assert kinds(events) == ["OrderAccepted", "OrderExpired"]
    assert (events[1].expired_qty, events[1].cum_qty) == (8, 0)
    assert frozen_state(engine) == before


# -- FOK ---------------------------------------------------------------------------------


def test_fok_fills_across_levels_when_enough(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, buy(10, 15, 103, acct=3, tif=FOK))
    assert fills(events) == [(101, 5, 10, 1), (102, 5, 10, 2), (103, 5, 10, 3)]
    assert not of(events, OrderExpired)
    assert engine.books["X"].depth()[1] == []


def test_fok_short_by_one_does_nothing(engine: MatchingEngine) -> None:
    ladder(engine)
    before = frozen_state(engine)
    events = run(engine, buy(10, 16, 103, acct=3, tif=FOK))
    assert kinds(events) == ["OrderAccepted", "OrderExpired"]
    assert events[1].reason == EndReason.FOK_NOT_FILLABLE
    assert (events[1].expired_qty, events[1].cum_qty) == (16, 0)
    assert frozen_state(engine) == before


def test_fok_liquidity_beyond_its_limit_does_not_count(engine: MatchingEngine) -> None:
    ladder(engine)
    before = frozen_state(engine)
    events = run(engine, buy(10, 11, 102, acct=3, tif=FOK))
    assert of(events, OrderExpired)[0].reason == EndReason.FOK_NOT_FILLABLE
    assert frozen_state(engine) == before


def test_fok_sell_side(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, sell(10, 7, 98, acct=3, tif=FOK))
    assert fills(events) == [(99, 5, 10, 4), (98, 2, 10, 5)]


def test_fok_that_does_not_cross(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, buy(10, 1, 100, acct=3, tif=FOK))
    assert of(events, OrderExpired)[0].reason == EndReason.FOK_NOT_FILLABLE


def test_fok_liquidity_outside_the_band_does_not_count(engine: MatchingEngine) -> None:
    ladder(engine)
    run(engine, SetBand(1, "X", 90, 102))
    before = frozen_state(engine)
    events = run(engine, buy(10, 11, 102, acct=3, tif=FOK))
    assert of(events, OrderExpired)[0].reason == EndReason.FOK_NOT_FILLABLE
    assert frozen_state(engine) == before
    assert fills(run(engine, buy(11, 10, 102, acct=3, tif=FOK))) == [
        (101, 5, 11, 1), (102, 5, 11, 2),
    ]  # fmt: skip


def test_fok_own_order_in_the_way(engine: MatchingEngine) -> None:
    """Own liquidity with STP: only EXPIRE_MAKER lets the FOK look past it."""
    run(engine, sell(1, 5, 101, acct=3), sell(2, 5, 102, acct=2))
    for mode in (StpMode.EXPIRE_TAKER, StpMode.EXPIRE_BOTH, StpMode.DECREMENT):
        before = frozen_state(engine)
        events = run(engine, buy(10 + mode, 5, 102, acct=3, tif=FOK, stp=int(mode)))
        assert kinds(events) == ["OrderAccepted", "OrderExpired"], mode
        assert events[1].reason == EndReason.FOK_NOT_FILLABLE
        assert frozen_state(engine) == before  # no prevented match, no maker expired
    # EXPIRE_MAKER: the own maker is expired and the rest fills
    events = run(engine, buy(20, 5, 102, acct=3, tif=FOK, stp=int(StpMode.EXPIRE_MAKER)))
    assert kinds(events) == ["OrderAccepted", "SelfTradePrevented", "OrderExpired", "Fill"]
    assert (events[2].order_id, events[2].reason) == (1, EndReason.SELF_TRADE)
    assert fills(events) == [(102, 5, 20, 2)]


def test_fok_expire_maker_that_still_cannot_fill_touches_nothing(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=3), sell(2, 5, 102, acct=2))
    before = frozen_state(engine)
    events = run(engine, buy(10, 6, 102, acct=3, tif=FOK, stp=int(StpMode.EXPIRE_MAKER)))
    assert kinds(events) == ["OrderAccepted", "OrderExpired"]
    assert frozen_state(engine) == before  # the own maker was not expired either


def test_fok_own_order_behind_enough_liquidity_is_never_reached(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=2), sell(2, 5, 101, acct=3))
    events = run(engine, buy(10, 5, 101, acct=3, tif=FOK, stp=int(StpMode.EXPIRE_TAKER)))
    assert fills(events) == [(101, 5, 10, 1)]
    assert not of(events, SelfTradePrevented)


def test_fok_without_stp_trades_with_itself(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=3))
    events = run(engine, buy(10, 5, 101, acct=3, tif=FOK))
    assert fills(events) == [(101, 5, 10, 1)]


# -- GTD ---------------------------------------------------------------------------------


def test_gtd_lives_until_a_command_reaches_its_expiry(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99, ts=10, tif=GTD, expire_ts=20))
    assert run(engine, AdvanceTime(19)) == []
    assert 1 in engine.orders
    events = run(engine, AdvanceTime(20))  # ts >= expire_ts
    expired, level = events
    assert type(expired) is OrderExpired
    assert (expired.order_id, expired.reason, expired.ts) == (1, EndReason.GTD_EXPIRED, 20)
    assert (level.price, level.qty, level.count) == (99, 0, 0)
    assert 1 not in engine.orders and engine.books["X"].depth() == ([], [])


def test_gtd_expires_before_the_command_that_passes_its_time(engine: MatchingEngine) -> None:
    """The expiry runs first, so an order arriving at the expiry time cannot trade with it."""
    run(engine, sell(1, 5, 101, ts=10, tif=GTD, expire_ts=20))
    events = run(engine, buy(2, 5, 101, ts=25))
    assert kinds(events) == ["OrderExpired", "OrderAccepted"]
    assert not of(events, Fill)
    assert engine.books["X"].depth() == ([(101, 5)], [])


def test_gtd_expiry_is_triggered_by_any_command_even_a_rejected_one(
    engine: MatchingEngine,
) -> None:
    run(engine, sell(1, 5, 101, ts=10, tif=GTD, expire_ts=20))
    events = engine.apply(CancelOrder(30, "X", 999, 2))
    assert kinds(events) == ["OrderExpired", "CancelRejected"]
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_gtd_several_expire_in_time_then_id_order(engine: MatchingEngine) -> None:
    run(
        engine,
        buy(5, 1, 95, ts=1, tif=GTD, expire_ts=30),
        buy(3, 1, 96, ts=1, tif=GTD, expire_ts=20),
        buy(4, 1, 97, ts=1, tif=GTD, expire_ts=20),
        buy(6, 1, 98, ts=1, tif=GTD, expire_ts=40),
        buy(7, 1, 94, ts=1),
    )
    events = run(engine, AdvanceTime(35))
    assert [e.order_id for e in of(events, OrderExpired)] == [3, 4, 5]
    assert ids(engine) == ([6, 7], [])


def test_gtd_partially_filled_expires_its_remainder(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, ts=1, tif=GTD, expire_ts=9), buy(2, 2, 101, ts=2))
    (expired, _) = run(engine, AdvanceTime(9))
    assert (expired.expired_qty, expired.cum_qty) == (3, 2)


def test_gtd_gone_early_never_expires_later(engine: MatchingEngine) -> None:
    run(
        engine,
        sell(1, 5, 101, ts=1, tif=GTD, expire_ts=9),
        sell(2, 5, 102, ts=1, tif=GTD, expire_ts=9),
        buy(3, 5, 101, ts=2),  # fills order 1 completely
        CancelOrder(3, "X", 2, 2),
    )
    assert run(engine, AdvanceTime(100)) == []


def test_gtd_that_trades_away_on_entry_leaves_no_expiry_behind(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, ts=1))
    run(engine, buy(2, 5, 101, ts=2, tif=GTD, expire_ts=5))
    run(engine, sell(3, 5, 105, ts=3))
    assert run(engine, AdvanceTime(10)) == []


def test_expired_gtd_cannot_be_cancelled(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99, ts=1, tif=GTD, expire_ts=5))
    (_, _, rejected) = engine.apply(CancelOrder(5, "X", 1, 1))
    assert type(rejected) is CancelRejected and rejected.reason == Reason.UNKNOWN_ORDER


def test_gtd_expiry_is_ignored_for_other_times_in_force(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99, ts=1, expire_ts=5))  # GTC carrying an expiry it does not use
    assert run(engine, AdvanceTime(10)) == []
    assert 1 in engine.orders


# -- market orders -----------------------------------------------------------------------


def test_market_order_sweeps_up_to_its_protection_price(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, market(10, BUY, 20, 102))
    assert fills(events) == [(101, 5, 10, 1), (102, 5, 10, 2)]
    (expired,) = of(events, OrderExpired)
    assert (expired.expired_qty, expired.cum_qty) == (10, 10)
    assert expired.reason == EndReason.IOC_REMAINDER
    assert engine.books["X"].depth()[1] == [(103, 5)]  # never beyond protection


def test_market_sell(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, market(10, SELL, 7, 1))
    assert fills(events) == [(99, 5, 10, 4), (98, 2, 10, 5)]


def test_market_order_never_rests_whatever_its_tif(engine: MatchingEngine) -> None:
    ladder(engine)
    cmd = NewOrder(1, "X", 10, 3, BUY, 20, 110, ord_type=int(OrdType.MARKET))  # tif GTC
    events = run(engine, cmd)
    assert sum(f[1] for f in fills(events)) == 15
    assert of(events, OrderExpired)[0].expired_qty == 5
    assert 10 not in engine.orders


def test_market_order_against_an_empty_side_expires(engine: MatchingEngine) -> None:
    events = run(engine, market(1, BUY, 5, 1_000))
    assert kinds(events) == ["OrderAccepted", "OrderExpired"]


def test_market_order_with_protection_short_of_the_touch(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, market(10, BUY, 5, 100))
    assert not of(events, Fill)
    assert of(events, OrderExpired)[0].expired_qty == 5


def test_market_order_without_protection_is_rejected(engine: MatchingEngine) -> None:
    (rejected,) = engine.apply(market(1, BUY, 5, None))
    assert rejected.reason == Reason.MISSING_PROTECTION_PRICE


# -- post-only ---------------------------------------------------------------------------


def test_post_only_that_would_take_is_rejected(engine: MatchingEngine) -> None:
    ladder(engine)
    before = frozen_state(engine)
    for cmd in (buy(10, 1, 101, post_only=True), sell(11, 1, 99, post_only=True),
                buy(12, 1, 150, post_only=True)):  # fmt: skip
        (rejected,) = engine.apply(cmd)
        assert type(rejected) is OrderRejected
        assert rejected.reason == Reason.POST_ONLY_WOULD_TAKE
    assert frozen_state(engine) == before


def test_post_only_that_does_not_cross_rests(engine: MatchingEngine) -> None:
    ladder(engine)
    events = run(engine, buy(10, 1, 100, post_only=True), sell(11, 1, 100, post_only=False))
    assert fills(events) == [(100, 1, 11, 10)]  # and later makes like any resting order


def test_post_only_crossing_during_a_call_auction_is_accepted(engine: MatchingEngine) -> None:
    ladder(engine)
    run(engine, OpenAuction(1, "X"))
    events = run(engine, buy(10, 1, 101, post_only=True))
    assert kinds(events) == ["OrderAccepted"]
    assert engine.books["X"].is_crossed()

"""Halt and resume: a halted instrument takes no new orders or amends, still lets orders
out (cancel, mass cancel, GTD expiry), and comes back where it stopped."""

from __future__ import annotations

from matching import (
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    Halt,
    InstrumentStatus,
    InstrumentStatusChanged,
    MatchingEngine,
    OpenAuction,
    OrderCanceled,
    OrderExpired,
    Reason,
    Resume,
    TimeInForce,
)
from tests.matching.helpers import buy, fills, frozen_state, ids, kinds, of, run, sell


def test_halt_reports_status_and_refuses_orders(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99), sell(2, 5, 101))
    (status,) = run(engine, Halt(2, "X", "volatility"))
    assert type(status) is InstrumentStatusChanged
    assert (status.instrument, status.status, status.reason) == (
        "X", InstrumentStatus.HALTED, "volatility",
    )  # fmt: skip
    before = frozen_state(engine)
    (rejected,) = engine.apply(buy(3, 5, 101, ts=3))
    assert rejected.reason == Reason.INSTRUMENT_HALTED
    (rejected,) = engine.apply(AmendOrder(3, "X", 1, 1, qty=2))
    assert rejected.reason == Reason.INSTRUMENT_HALTED
    assert frozen_state(engine) == before


def test_cancel_and_expiry_still_work_while_halted(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99), buy(2, 5, 98, ts=1, tif=int(TimeInForce.GTD), expire_ts=10))
    run(engine, Halt(2, "X"))
    assert type(run(engine, CancelOrder(3, "X", 1, 1))[0]) is OrderCanceled
    assert of(run(engine, AdvanceTime(10)), OrderExpired)[0].order_id == 2
    assert engine.books["X"].depth() == ([], [])


def test_halt_is_per_instrument(engine: MatchingEngine) -> None:
    run(engine, Halt(1, "X"))
    assert kinds(run(engine, buy(1, 10, 500, sym="Y"))) == ["OrderAccepted"]


def test_resume_returns_to_trading_with_the_book_intact(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99), sell(2, 5, 101), Halt(2, "X"))
    (status,) = run(engine, Resume(3, "X"))
    assert status.status == InstrumentStatus.TRADING
    assert ids(engine) == ([1], [2])
    assert fills(run(engine, buy(3, 5, 101, ts=4))) == [(101, 5, 3, 2)]


def test_halt_during_a_call_auction_then_resume_uncrosses(engine: MatchingEngine) -> None:
    """Regression: resuming from the halt went straight to trading with a crossed book."""
    run(engine, OpenAuction(1, "X"), buy(1, 5, 102), sell(2, 5, 100), Halt(2, "X"))
    assert engine.books["X"].is_crossed()  # kept as collected while halted
    engine.validate()
    events = run(engine, Resume(3, "X", 101))
    assert kinds(events) == ["Fill", "AuctionUncrossed", "InstrumentStatusChanged"]
    assert fills(events) == [(101, 5, 1, 2)]
    assert engine.books["X"].status == InstrumentStatus.TRADING
    assert not engine.books["X"].is_crossed()

"""Mass cancel: every resting order of one account, optionally on one instrument only."""

from __future__ import annotations

from matching import (
    EndReason,
    Halt,
    LevelChanged,
    MassCancel,
    MassCancelDone,
    MatchingEngine,
    OrderCanceled,
)
from tests.matching.helpers import buy, ids, of, run, sell


def spread_orders(engine: MatchingEngine) -> None:
    run(
        engine,
        buy(5, 3, 99, acct=1), sell(2, 4, 101, acct=1), buy(9, 2, 99, acct=2),
        buy(3, 20, 500, acct=1, sym="Y"), sell(4, 20, 505, acct=2, sym="Y"),
        buy(7, 1, 98, acct=1), sell(8, 5, 101, acct=2),
    )  # fmt: skip


def test_cancels_every_order_of_the_account_in_id_order(engine: MatchingEngine) -> None:
    spread_orders(engine)
    events = run(engine, MassCancel(2, 1))
    canceled = of(events, OrderCanceled)
    assert [(e.order_id, e.instrument) for e in canceled] == [
        (2, "X"), (3, "Y"), (5, "X"), (7, "X"),
    ]  # fmt: skip
    assert all(e.reason == EndReason.MASS_CANCEL and e.account == 1 for e in canceled)
    assert [e.canceled_qty for e in canceled] == [4, 20, 3, 1]
    (done,) = of(events, MassCancelDone)
    assert (done.account, done.instrument, done.canceled, done.reason) == (
        1, None, 4, EndReason.MASS_CANCEL,
    )  # fmt: skip
    assert events[-1] is done
    assert engine.open_orders(1) == []
    assert ids(engine) == ([9], [8]) and ids(engine, "Y") == ([], [4])  # others untouched


def test_level_events_after_the_cancels(engine: MatchingEngine) -> None:
    spread_orders(engine)
    events = run(engine, MassCancel(2, 1))
    levels = {(e.instrument, e.side, e.price): (e.qty, e.count)
              for e in of(events, LevelChanged)}  # fmt: skip
    assert levels == {
        ("X", -1, 101): (5, 1), ("Y", 1, 500): (0, 0), ("X", 1, 99): (2, 1), ("X", 1, 98): (0, 0),
    }  # fmt: skip
    first_level = events.index(of(events, LevelChanged)[0])
    assert all(type(e) is OrderCanceled for e in events[:first_level])


def test_scoped_to_one_instrument(engine: MatchingEngine) -> None:
    spread_orders(engine)
    events = run(engine, MassCancel(2, 1, "Y"))
    assert [e.order_id for e in of(events, OrderCanceled)] == [3]
    assert of(events, MassCancelDone)[0].instrument == "Y"
    assert sorted(o.order_id for o in engine.open_orders(1)) == [2, 5, 7]


def test_reports_cum_of_partially_filled_orders(engine: MatchingEngine) -> None:
    run(engine, sell(1, 10, 101, acct=1), buy(2, 4, 101, acct=2))
    (canceled,) = of(run(engine, MassCancel(2, 1)), OrderCanceled)
    assert (canceled.canceled_qty, canceled.cum_qty) == (6, 4)


def test_nothing_to_cancel(engine: MatchingEngine) -> None:
    events = run(engine, MassCancel(2, 42))
    assert len(events) == 1 and type(events[0]) is MassCancelDone
    assert events[0].canceled == 0


def test_reason_is_carried(engine: MatchingEngine) -> None:
    spread_orders(engine)
    events = run(engine, MassCancel(2, 2, None, int(EndReason.CANCEL_ON_DISCONNECT)))
    assert {e.reason for e in events if hasattr(e, "reason")} == {EndReason.CANCEL_ON_DISCONNECT}


def test_works_while_halted_and_twice_in_a_row(engine: MatchingEngine) -> None:
    spread_orders(engine)
    run(engine, Halt(2, "X"))
    assert of(run(engine, MassCancel(3, 2)), MassCancelDone)[0].canceled == 3
    assert of(run(engine, MassCancel(4, 2)), MassCancelDone)[0].canceled == 0
    assert engine.open_orders(2) == []

"""The engine as a whole: one entry point, gapless sequence numbers, instruments, indexes.

Order types live in ``test_orders.py``, STP in ``test_stp.py``, amends in
``test_amend.py``; the randomized comparison with the reference book in
``test_stateful.py``.
"""

from __future__ import annotations

import pytest

from matching import (
    AddInstrument,
    AdvanceTime,
    CancelOrder,
    Fill,
    Instrument,
    InstrumentAdded,
    LevelChanged,
    MatchingEngine,
    NewOrder,
    OrderAccepted,
    Reason,
)
from tests.matching.helpers import BUY, SELL, buy, fills, kinds, of, run, sell


def test_sequence_numbers_are_gapless_and_events_carry_the_command_time(
    engine: MatchingEngine,
) -> None:
    cmds = [
        sell(1, 5, 101, ts=5), buy(2, 3, 99, ts=6), buy(3, 8, 102, ts=7),
        CancelOrder(8, "X", 2, 1), CancelOrder(9, "X", 2, 1), AdvanceTime(10),
        NewOrder(11, "NOPE", 4, 1, BUY, 1, 1),
    ]  # fmt: skip
    seqs = []
    for cmd in cmds:
        events = engine.apply(cmd)
        assert all(e.ts == cmd.ts for e in events)
        seqs.extend(e.seq for e in events)
    assert seqs == list(range(1, len(seqs) + 1)) and engine.seq == len(seqs)


def test_accepted_event_echoes_the_order(engine: MatchingEngine) -> None:
    cmd = NewOrder(3, "X", 7, 9, SELL, 4, 120, client_order_id="abc", stp=2)
    accepted = engine.apply(cmd)[0]
    assert type(accepted) is OrderAccepted
    assert accepted[2:] == (
        "X", 7, "abc", 9, SELL, cmd.ord_type, 120, 4, cmd.tif, 0, False, False, 2,
    )  # fmt: skip


def test_instruments_are_independent(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101), sell(2, 10, 100, sym="Y"))
    events = run(engine, buy(3, 20, 105, sym="Y"))
    assert fills(events) == [(100, 10, 3, 2)]
    assert engine.books["X"].depth() == ([], [(101, 5)])
    assert engine.books["Y"].depth() == ([(105, 10)], [])


def test_trade_ids_are_global_and_increasing(engine: MatchingEngine) -> None:
    events = run(
        engine, sell(1, 1, 101), sell(2, 10, 100, sym="Y"), buy(3, 1, 101),
        buy(4, 10, 100, sym="Y"),
    )  # fmt: skip
    assert [f.trade_id for f in of(events, Fill)] == [1, 2]
    assert engine.trade_id == 2


def test_last_price_follows_the_last_trade(engine: MatchingEngine) -> None:
    assert engine.books["X"].last_price is None
    run(engine, sell(1, 2, 101), sell(2, 2, 103), buy(3, 3, 103))
    assert engine.books["X"].last_price == 103


def test_add_instrument(engine: MatchingEngine) -> None:
    (added,) = run(engine, AddInstrument(1, Instrument("NEW", tick_size=2)))
    assert type(added) is InstrumentAdded and added.instrument == "NEW"
    assert kinds(run(engine, NewOrder(2, "NEW", 1, 1, BUY, 1, 10))) == ["OrderAccepted"]
    assert engine.apply(NewOrder(2, "NEW", 2, 1, BUY, 1, 11))[0].reason == Reason.OFF_TICK_PRICE


def test_constructor_refuses_a_bad_instrument() -> None:
    with pytest.raises(ValueError, match="tick_size"):
        MatchingEngine([Instrument("B", tick_size=0)])


def test_instrument_check() -> None:
    assert Instrument("OK", 5, 10, 10, 1_000).check() is None
    assert Instrument("", 1).check() is not None
    assert Instrument("x" * 65).check() is not None
    assert Instrument("B", min_qty=5, max_qty=4).check() == "min_qty exceeds max_qty"
    assert Instrument("B", lot_size=2, min_qty=3, max_qty=4).check() is not None


def test_indexes_follow_orders_in_and_out(engine: MatchingEngine) -> None:
    run(engine, sell(1, 5, 101, acct=2, client_order_id="s1"), sell(2, 5, 102, acct=2))
    assert set(engine.accounts[2]) == {"s1", 2}  # client id, or order id without one
    assert sorted(o.order_id for o in engine.open_orders(2)) == [1, 2]
    assert engine.open_orders(2, "Y") == [] and engine.open_orders(99) == []
    run(engine, buy(3, 7, 102))  # fills 1 completely, 2 partly
    assert set(engine.orders) == {2} and set(engine.accounts[2]) == {2}
    # the freed client order id can be used again
    assert kinds(run(engine, sell(4, 1, 105, acct=2, client_order_id="s1"))) == ["OrderAccepted"]


def test_every_change_reports_its_level(engine: MatchingEngine) -> None:
    events = run(
        engine, sell(1, 5, 101), sell(2, 5, 101), buy(3, 7, 101), CancelOrder(2, "X", 2, 2)
    )
    levels = [(e.side, e.price, e.qty, e.count) for e in of(events, LevelChanged)]
    assert levels == [(SELL, 101, 5, 1), (SELL, 101, 10, 2), (SELL, 101, 3, 1), (SELL, 101, 0, 0)]


def test_events_are_fresh_lists(engine: MatchingEngine) -> None:
    first = engine.apply(AdvanceTime(1))
    first.append("junk")
    assert engine.apply(AdvanceTime(2)) == []

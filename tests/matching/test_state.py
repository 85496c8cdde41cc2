"""State export (matching/state.py): a snapshot restores an engine that behaves identically.

The property: for any command history, ``MatchingEngine.from_state(export_state())``
(carried through msgpack, as a snapshot file would carry it) has the same
``state_hash()``, exports the same state, and then emits identical events (by value and by
``repr``) and hashes for any further commands. Histories and futures are seeded logs of
every command kind (hypothesis draws the seed and the lengths; plain hypothesis lists
rarely trade), on two instruments plus one listed mid-history, with ids from a window of
recent ones so cancels, amends and duplicates meet live orders. Also: ``apply_batch``
equals ``apply`` in turn, the hash covers instrument definitions, and a bad state is refused.
"""

from __future__ import annotations

import random

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching import (
    AddInstrument,
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    Fill,
    Halt,
    Instrument,
    MassCancel,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    Resume,
    SetBand,
    repair,
)
from tests.matching.helpers import BUY, SELL

INSTRUMENTS = [
    Instrument("X", tick_size=1, lot_size=1, min_qty=1, max_qty=50),
    Instrument("Y", tick_size=5, lot_size=10, min_qty=10, max_qty=500, price_decimals=2),
]
LATE = Instrument("Z", tick_size=2, lot_size=1, min_qty=1, max_qty=30)
MID = {"X": 100, "Y": 500, "Z": 200}
TICK = {"X": 1, "Y": 5, "Z": 2}
LOT = {"X": 1, "Y": 10, "Z": 1}



def command_log(seed: int, n: int, ts: int = 1, first_oid: int = 1) -> list[object]:
    """A seeded mix of every command kind, dense enough that orders meet and trade.

    Cancels and amends name one of the last 15 orders, mostly with its own instrument and
    account, so they meet live orders; market structure (halts, auctions, bands, listing
    Z) is rarer.
    """
    rng = random.Random(seed)
    out: list[object] = []
    oid = first_oid
    issued: dict[int, tuple[str, int]] = {}
    for _ in range(n):
        ts += rng.randint(0, 2)
        sym = rng.choice("XXXYZ")
        acct = rng.randint(1, 3)
        recent = rng.randint(max(1, oid - 15), oid)
        if recent in issued and rng.random() < 0.85:
            sym, acct = issued[recent]
        tick, lot, mid = TICK[sym], LOT[sym], MID[sym]
        r = rng.random()
        if r < 0.6:
            tif = rng.choice([1, 1, 1, 3, 4, 6])
            out.append(NewOrder(
                ts, sym, oid if rng.random() < 0.95 else recent, acct, rng.choice([BUY, SELL]),
                rng.randint(1, 6) * lot, mid + rng.randint(-4, 4) * tick,
                ord_type=rng.choice([2, 2, 2, 2, 1]), tif=tif,
                client_order_id=rng.choice(["", "", "", f"c{oid}", "dup"]),
                post_only=rng.random() < 0.1, stp=rng.choice([0, 0, 1, 2, 3, 4]),
                expire_ts=ts + rng.randint(1, 9) if tif == 6 else 0,
            ))  # fmt: skip
            issued[oid] = (sym, acct)
            oid += 1
        elif r < 0.74:
            out.append(CancelOrder(ts, sym, recent, acct))
        elif r < 0.88:
            out.append(AmendOrder(ts, sym, recent, acct,
                                  price=rng.choice([None, mid + rng.randint(-4, 4) * tick]),
                                  qty=rng.choice([None, rng.randint(1, 8) * lot])))  # fmt: skip
        elif r < 0.89:
            out.append(MassCancel(ts, acct, rng.choice([None, sym])))
        elif r < 0.90:
            out.append(Halt(ts, sym, "test"))
        elif r < 0.915:
            out.append(OpenAuction(ts, sym))
        elif r < 0.96:
            out.append(Resume(ts, sym, rng.choice([None, mid])))
        elif r < 0.97:
            lo = mid - rng.randint(0, 6) * tick
            out.append(rng.choice([SetBand(ts, sym, lo, lo + rng.randint(0, 10) * tick),
                                   SetBand(ts, sym, None, None)]))  # fmt: skip
        elif r < 0.975:
            out.append(AddInstrument(ts, LATE))
        else:
            out.append(AdvanceTime(ts + rng.randint(1, 5)))
    return out


def snapshot_roundtrip(engine: MatchingEngine) -> MatchingEngine:
    """Export, carry through msgpack as a snapshot file would, restore."""
    state = engine.export_state()
    wire = msgpack.unpackb(msgpack.packb(state, use_bin_type=True), raw=False)
    assert wire == state
    restored = MatchingEngine.from_state(wire)
    assert restored.export_state() == state
    return restored


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), past=st.integers(0, 400), ahead=st.integers(1, 150))
def test_restored_engine_has_the_same_hash_and_the_same_future(seed: int, past: int,
                                                               ahead: int) -> None:  # fmt: skip
    original = MatchingEngine(INSTRUMENTS)
    history = command_log(seed, past)
    for cmd in history:
        original.apply(cmd)
    restored = snapshot_roundtrip(original)
    assert restored.state_hash() == original.state_hash()
    restored.validate()
    last_ts = history[-1].ts if history else 1  # type: ignore[attr-defined]
    for cmd in command_log(seed + 1, ahead, last_ts + 5, past + 1):
        a, b = original.apply(cmd), restored.apply(cmd)
        assert a == b, cmd
        assert [repr(e) for e in a] == [repr(e) for e in b]
        assert restored.state_hash() == original.state_hash()
    restored.validate()


def test_the_random_log_reaches_every_corner() -> None:
    """The property above is only as good as the logs: they trade, expire, list, halt."""
    seen: set[str] = set()
    for seed in range(3):
        eng = MatchingEngine(INSTRUMENTS)
        seen |= {type(e).__name__ for cmd in command_log(seed, 400) for e in eng.apply(cmd)}
    assert {"Fill", "OrderAmended", "OrderCanceled", "OrderExpired", "SelfTradePrevented",
            "AuctionUncrossed", "InstrumentAdded", "BandChanged"} <= seen  # fmt: skip
    assert len(eng.orders) > 5


def test_export_is_plain_data_with_every_order_in_priority_order() -> None:
    eng = MatchingEngine(INSTRUMENTS)
    eng.apply_batch([
        NewOrder(1, "X", 1, 1, BUY, 5, 99),
        NewOrder(1, "X", 2, 2, BUY, 3, 99, client_order_id="c2", tif=6, expire_ts=50),
        NewOrder(1, "X", 3, 2, BUY, 4, 100),
        NewOrder(1, "X", 4, 3, SELL, 9, 101, stp=2),
        NewOrder(2, "X", 5, 1, BUY, 2, 101),  # partial fill of 4
        SetBand(3, "Y", 400, None),
        Halt(3, "Y", "test"),
    ])  # fmt: skip
    state = eng.export_state()
    assert state["seq"] == eng.seq and state["trade_id"] == 1
    x = next(i for i in state["instruments"] if i["symbol"] == "X")
    assert [r[0] for r in x["bids"]] == [3, 1, 2] and [r[0] for r in x["asks"]] == [4]
    assert x["asks"][0][:7] == [4, 3, SELL, 101, 9, 7, 2]
    y = next(i for i in state["instruments"] if i["symbol"] == "Y")
    assert (y["status"], y["band_low"], y["band_high"], y["price_decimals"]) == (2, 400, None, 2)

    def plain(v: object) -> bool:
        if isinstance(v, dict):
            return all(type(k) is str and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or type(v) in (int, str, bool)

    assert plain(state)
    # the GTD order still expires on time after a restore
    restored = snapshot_roundtrip(eng)
    assert restored.apply(AdvanceTime(60)) == eng.apply(AdvanceTime(60))
    assert 2 not in restored.orders


def test_book_surgery_orders_and_shell_set_counters_survive_a_snapshot() -> None:
    eng = MatchingEngine(INSTRUMENTS)
    eng.seq = eng.trade_id = 1_000  # as the matching role does on a restart
    repair.add_resting(eng, "X", -1, 2, SELL, 101, 10, 0)
    repair.add_resting(eng, "X", -2, 2, SELL, 101, 5, 0, front=True)
    eng.apply(NewOrder(5, "X", 7, 3, BUY, 12, 101))
    restored = snapshot_roundtrip(eng)
    taker = NewOrder(6, "X", 8, 3, BUY, 10, 101)
    events = eng.apply(taker)
    assert restored.apply(taker) == events
    assert [e.trade_id for e in events if type(e) is Fill] == [1_003]


def test_apply_batch_gives_the_events_of_apply_in_turn() -> None:
    cmds = command_log(3, 200)
    one, batch = MatchingEngine(INSTRUMENTS), MatchingEngine(INSTRUMENTS)
    expected = [e for cmd in cmds for e in one.apply(cmd)]
    assert batch.apply_batch(cmds) == expected
    assert any(type(e) is Fill for e in expected)
    assert batch.apply_batch([]) == [] and batch.state_hash() == one.state_hash()


def test_the_hash_covers_instrument_definitions() -> None:
    a = MatchingEngine([Instrument("X", tick_size=1)])
    b = MatchingEngine([Instrument("X", tick_size=5)])
    assert a.state_hash() != b.state_hash()
    assert a.state_hash() == MatchingEngine([Instrument("X", tick_size=1)]).state_hash()


def test_a_bad_state_is_refused() -> None:
    eng = MatchingEngine(INSTRUMENTS)
    eng.apply_batch([NewOrder(1, "X", 1, 1, BUY, 5, 99), NewOrder(1, "X", 2, 2, SELL, 5, 101)])
    good = eng.export_state()
    with pytest.raises(ValueError, match="version"):
        MatchingEngine.from_state({**good, "version": 99})
    crossed = msgpack.unpackb(msgpack.packb(good))
    x = next(i for i in crossed["instruments"] if i["symbol"] == "X")
    x["bids"][0][3] = 102  # the bid now crosses the ask
    x["bids"][0][7][6] = 102
    with pytest.raises(ValueError, match="bad matcher state"):
        MatchingEngine.from_state(crossed)
    twice = msgpack.unpackb(msgpack.packb(good))
    x = next(i for i in twice["instruments"] if i["symbol"] == "X")
    x["bids"].append(list(x["bids"][0]))
    with pytest.raises(ValueError, match="twice"):
        MatchingEngine.from_state(twice)

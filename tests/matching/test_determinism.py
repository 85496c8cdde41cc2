"""Determinism: the same command log run twice gives identical events and state hashes.

The log is a seeded random mix of every command the engine takes (the seed lives in the
test, so the log itself is fixed). Events are compared by value and by ``repr`` (the
byte-level form a journal would write), and the state hash after every command.
"""

from __future__ import annotations

import random

from matching import (
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
)
from tests.matching.helpers import BUY

INSTRUMENTS = [
    Instrument("X"),
    Instrument("Y", tick_size=5, lot_size=10, min_qty=10, max_qty=10_000),
]


def command_log(seed: int, n: int) -> list[object]:
    rng = random.Random(seed)
    log: list[object] = []
    ts = 1
    for oid in range(1, n + 1):
        ts += rng.randint(0, 2)
        sym = rng.choice("XXXY")
        tick, lot, mid = (1, 1, 100) if sym == "X" else (5, 10, 500)
        r = rng.random()
        if r < 0.55:
            tif = rng.choice([1, 1, 1, 3, 4, 6])
            log.append(NewOrder(
                ts, sym, oid, rng.randint(1, 4), rng.choice([1, -1]), rng.randint(1, 9) * lot,
                mid + rng.randint(-5, 5) * tick, ord_type=rng.choice([2, 2, 2, 2, 1]), tif=tif,
                post_only=rng.random() < 0.1, stp=rng.randint(0, 4),
                expire_ts=ts + rng.randint(1, 9) if tif == 6 else 0,
            ))  # fmt: skip
        elif r < 0.75:
            log.append(CancelOrder(ts, sym, rng.randint(1, oid), rng.randint(1, 4)))
        elif r < 0.88:
            log.append(AmendOrder(ts, sym, rng.randint(1, oid), rng.randint(1, 4),
                                  price=rng.choice([None, mid + rng.randint(-4, 4) * tick]),
                                  qty=rng.choice([None, rng.randint(1, 9) * lot])))  # fmt: skip
        elif r < 0.90:
            log.append(MassCancel(ts, rng.randint(1, 4), rng.choice([None, sym])))
        elif r < 0.92:
            log.append(Halt(ts, sym))
        elif r < 0.95:
            log.append(OpenAuction(ts, sym))
        elif r < 0.98:
            log.append(Resume(ts, sym, rng.choice([None, mid])))
        elif r < 0.99:
            lo = mid - rng.randint(0, 6) * tick
            log.append(SetBand(ts, sym, lo, lo + rng.randint(0, 10) * tick))
        else:
            log.append(AdvanceTime(ts + 5))
    return log


def replay(log: list[object]) -> tuple[list, list[str]]:
    engine = MatchingEngine(INSTRUMENTS)
    events: list = []
    hashes: list[str] = []
    for cmd in log:
        events.extend(engine.apply(cmd))
        hashes.append(engine.state_hash())
    engine.validate()
    return events, hashes


def test_same_log_twice_gives_identical_events_and_hashes() -> None:
    log = command_log(seed=20240621, n=3_000)
    events_a, hashes_a = replay(log)
    events_b, hashes_b = replay(log)
    assert sum(type(e) is Fill for e in events_a) > 100  # the log really trades
    assert events_a == events_b
    assert [repr(e) for e in events_a] == [repr(e) for e in events_b]
    assert hashes_a == hashes_b
    assert [e.seq for e in events_a] == list(range(1, len(events_a) + 1))


def test_the_hash_tells_different_histories_apart() -> None:
    log = command_log(seed=7, n=500)
    _, hashes = replay(log)
    assert len(set(hashes)) > len(hashes) // 2  # it moves as the state moves
    changed = list(log)
    changed.append(NewOrder(10**6, "X", 10**6, 1, BUY, 1, 1))
    assert replay(changed)[1][-1] != hashes[-1]


def test_the_hash_ignores_how_the_engine_was_reached() -> None:
    """Two engines with the same book built by different routes hash alike."""
    a = MatchingEngine(INSTRUMENTS)
    b = MatchingEngine(INSTRUMENTS)
    a.apply(NewOrder(1, "X", 1, 1, BUY, 5, 99))
    b.apply(NewOrder(1, "X", 1, 1, BUY, 5, 99))
    a.apply(CancelOrder(2, "X", 7, 1))  # a reject: only the sequence moves
    b.apply(AdvanceTime(2))
    b.seq = a.seq
    assert a.state_hash() == b.state_hash()

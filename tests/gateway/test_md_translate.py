"""Matcher events -> market-data messages, without sockets, checked against the engine itself."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.md_translate import (
    HB_TOPIC,
    L2Book,
    MarketDataTranslator,
    public_l3,
    symbol_problem,
    topic,
)
from matching import (
    BUY,
    SELL,
    AddInstrument,
    AmendOrder,
    CancelOrder,
    Fill,
    Halt,
    Instrument,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    Resume,
    SetBand,
)
from matching.checksum import CHECKSUM_DEPTH, book_checksum
from matching.events import LevelChanged


def random_flow(seed: int, n: int = 400) -> tuple[MatchingEngine, list[Any]]:
    """An engine plus a command stream with sweeps, cancels, amends, halts and auctions."""
    rng = random.Random(seed)
    eng = MatchingEngine([Instrument("BTC-PERP"), Instrument("ETH-PERP")])
    cmds: list[Any] = []
    live: list[tuple[str, int, int]] = []
    syms = ["BTC-PERP", "ETH-PERP"]
    for i in range(1, n + 1):
        r = rng.random()
        sym = rng.choice(syms)
        if r < 0.15 and live:
            s, oid, acct = live.pop(rng.randrange(len(live)))
            cmds.append(CancelOrder(i, s, oid, acct))
        elif r < 0.25 and live:
            s, oid, acct = rng.choice(live)
            cmds.append(AmendOrder(i, s, oid, acct, price=rng.randint(90, 110)))
        elif r < 0.27:
            cmds.append(OpenAuction(i, sym))
        elif r < 0.30:
            cmds.append(Resume(i, sym, 100))
        elif r < 0.31:
            cmds.append(Halt(i, sym, "test"))
        elif r < 0.32:
            cmds.append(
                SetBand(i, sym, 80, 120) if rng.random() < 0.5 else SetBand(i, sym, None, None)
            )
        elif r < 0.33 and i > 200 and "SOL-PERP" not in syms:
            cmds.append(AddInstrument(i, Instrument("SOL-PERP")))
            syms.append("SOL-PERP")
        else:
            acct = rng.randint(1, 6)
            side = rng.choice((BUY, SELL))
            cmds.append(NewOrder(i, sym, i, acct, side, rng.randint(1, 20), rng.randint(90, 110)))
            live.append((sym, i, acct))
    return eng, cmds


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_translation_tracks_the_engine_book_exactly(seed: int) -> None:
    eng, cmds = random_flow(seed)
    tr = MarketDataTranslator(["BTC-PERP", "ETH-PERP"])
    expect_seq: dict[tuple[str, str], int] = {}
    trades = 0
    for cmd in cmds:
        events = eng.apply(cmd)
        msgs = tr.on_events(events)
        fills = [e for e in events if type(e) is Fill]
        trade_msgs = [b for _, b in msgs if b["type"] == "trade"]
        assert [(b["trade_id"], b["price"], b["qty"]) for b in trade_msgs] == [
            (f.trade_id, f.price, f.qty) for f in fills
        ]
        trades += len(fills)
        touched = {e.instrument for e in events if type(e) is LevelChanged}
        for t, body in msgs:
            key = (body["sym"], body["type"])
            expect_seq[key] = expect_seq.get(key, 0) + 1
            assert body["seq"] == expect_seq[key]  # gapless per instrument and stream
            assert t == topic(body["type"], body["sym"])
            assert body["v"] == 1 and body["ts_event"] == cmd.ts
        for sym in touched:
            l2 = [b for _, b in msgs if b["type"] == "l2" and b["sym"] == sym]
            assert [b["last"] for b in l2] == [False] * (len(l2) - 1) + [True]
            assert l2[-1]["checksum"] == eng.books[sym].checksum()
        for sym, book in eng.books.items():
            mirror = tr.book(sym)
            assert mirror is not None
            bids, asks = mirror.levels()
            eb, ea = book.depth(10_000)
            assert [(p, q) for p, q, _ in bids] == eb and [(p, q) for p, q, _ in asks] == ea
    assert trades > 20
    assert tr.book("SOL-PERP") is not None
    assert tr.on_events([]) == []


def test_status_band_uncross_and_added_messages() -> None:
    eng = MatchingEngine([Instrument("X")])
    tr = MarketDataTranslator()
    out = []
    for cmd in (
        OpenAuction(1, "X"),
        NewOrder(2, "X", 1, 1, BUY, 5, 101),
        NewOrder(3, "X", 2, 2, SELL, 3, 99),
        Resume(4, "X", 100),
        SetBand(5, "X", 90, 110),
        Halt(6, "X", "circuit breaker"),
        AddInstrument(7, Instrument("Y")),
    ):
        out += tr.on_events(eng.apply(cmd))
    status = [(b["kind"], b.get("status")) for t, b in out if t == b"status.X|"]
    assert status == [
        ("status", "auction"),
        ("uncross", None),
        ("status", "trading"),
        ("band", None),
        ("status", "halted"),
    ]
    uncross = next(b for _, b in out if b.get("kind") == "uncross")
    auction_trade = next(b for _, b in out if b["type"] == "trade")
    assert auction_trade["aggressor"] is None  # an auction print has no aggressor
    assert (uncross["price"], uncross["qty"]) == (auction_trade["price"], 3)
    added = [b for t, b in out if t == b"status.Y|"]
    assert added[0]["kind"] == "added" and added[0]["status"] == "trading"
    snap = tr.snapshot("X")
    assert snap is not None
    assert snap["status"] == "halted" and snap["band"] == [90, 110]
    assert snap["bids"] == [[101, 2, 1]] and snap["asks"] == []
    assert snap["seq"] == snap["seqs"]["l2"] == sum(1 for t, _ in out if t == b"l2.X|")


def test_marks_funding_heartbeat_and_snapshot_depth() -> None:
    eng = MatchingEngine([Instrument("X")])
    tr = MarketDataTranslator(["X"])
    for i in range(5):
        tr.on_events(eng.apply(NewOrder(i + 1, "X", i + 1, 1, BUY, 1, 100 - i)))
    m = tr.mark("X", 10, 99, index=98)
    f = tr.funding("X", 11, -25, next_ts=100)
    assert m is not None and f is not None
    assert m[0] == b"mark.X|" and (m[1]["mark"], m[1]["index"], m[1]["seq"]) == (99, 98, 1)
    assert f[0] == b"funding.X|" and (f[1]["rate_ppm"], f[1]["next_ts"]) == (-25, 100)
    assert tr.mark("bad|sym", 1, 1) is None and tr.skipped == 1
    t, hb = tr.heartbeat()
    assert t == HB_TOPIC
    assert hb["seqs"] == {"X": {"l2": 5, "trade": 0, "status": 0, "mark": 1, "funding": 1}}
    snap = tr.snapshot("X", depth=2)
    assert snap is not None and snap["bids"] == [[100, 1, 1], [99, 1, 1]]
    assert snap["checksum"] == eng.books["X"].checksum()  # the checksum is of the full top 10
    assert tr.snapshot("nope") is None


def test_topics_end_with_the_delimiter_and_bad_symbols_are_refused() -> None:
    assert topic("l2", "BTC-PERP") == b"l2.BTC-PERP|"
    assert not topic("l2", "BTC-PERPX").startswith(topic("l2", "BTC-PERP"))
    for bad in ("", "A|B", "A B", "é", "x" * 65, None):
        assert symbol_problem(bad) is not None
        with pytest.raises(ValueError):
            topic("l2", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown market-data stream"):
        topic("l9", "X")
    with pytest.raises(ValueError, match="delimiter"):
        MarketDataTranslator(["A|B"])
    tr = MarketDataTranslator()
    assert tr.on_events([LevelChanged(1, 1, "A|B", BUY, 10, 1, 1)]) == []
    assert tr.skipped == 1 and tr.seqs() == {}


def test_l2book_and_public_l3() -> None:
    a, b = L2Book(), L2Book()
    a.set_level(BUY, 10, 5, 1)
    a.set_level(SELL, 12, 7, 2)
    a.set_level(BUY, 11, 1, 1)
    a.set_level(BUY, 11, 0, 0)
    b.load(*a.levels())
    assert a == b and a.top() == ([(10, 5)], [(12, 7)])
    assert a.levels() == ([[10, 5, 1]], [[12, 7, 2]])
    l3 = {"bids": [(1, 77, 10, 5)], "asks": [(2, 88, 12, 7)]}
    assert public_l3(l3) == {"bids": [[1, 10, 5]], "asks": [[2, 12, 7]]}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from((BUY, SELL)), st.integers(1, 40), st.integers(0, 3),
                  st.booleans()),
        max_size=200,
    )
)
def test_cached_checksum_always_equals_a_fresh_one(
    ops: list[tuple[int, int, int, bool]],
) -> None:
    """Deep changes and changes on the other side keep a side's cached text; several
    changes may land between two reads: the value must never go stale."""
    book = L2Book()
    for side, price, qty, read in ops:
        book.set_level(side, price, qty, 1 if qty else 0)
        if not read:
            continue
        fresh_bids = [(p, v[0]) for p, v in reversed(book.bids.items())][:CHECKSUM_DEPTH]
        fresh_asks = [(p, v[0]) for p, v in book.asks.items()][:CHECKSUM_DEPTH]
        assert book.checksum() == book_checksum(fresh_bids, fresh_asks)


def test_option_tickers_carry_mark_ivs_and_greeks() -> None:
    from clearing.options.black76 import price

    sym = "BTC-26MAR27-60000-C"
    tr = MarketDataTranslator([sym, "BTC-PERP"])
    F, K, T = 600_000.0, 600_000, 0.3
    bid = int(round(float(price(F, K, T, 0.55, True)) / 5) * 5)
    tr.on_events([LevelChanged(1, 5, sym, BUY, bid, 3, 1),
                  LevelChanged(2, 5, sym, SELL, 700_000, 3, 1)])  # above the forward: no IV
    row = [sym, 79_000, 600_000, F, T, K, True, 0.5343, 3.85e-05, 68.37, -68.37, False]
    (t, body), = tr.options("BTC", 9, 600_000, [row])
    assert t == b"option.BTC-26MAR27-60000-C|" and body["seq"] == 1 and body["ts_event"] == 9
    assert (body["mark"], body["mark_iv_ppm"], body["bid"], body["ask"]) == (79_000, 600_000,
                                                                             bid, 700_000)
    assert abs(body["bid_iv_ppm"] - 550_000) < 200 and body["ask_iv_ppm"] is None
    assert (body["delta"], body["gamma"], body["vega"], body["theta"]) == (
        "0.5343", "0.0000385", "68.37", "-68.37")
    assert body["forward"] == "600000" and body["option_type"] == "call"
    assert body["underlying"] == "BTC" and body["stale_iv"] is False
    _, hb = tr.heartbeat()
    assert hb["seqs"][sym]["option"] == 1 and "option" not in hb["seqs"]["BTC-PERP"]

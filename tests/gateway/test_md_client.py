"""The client's pure book: snapshot + deltas, stale, gap and checksum outcomes."""

from __future__ import annotations

from gateway.md_client import LocalBook
from gateway.md_translate import L2Book, MarketDataTranslator
from matching import BUY, SELL, Instrument, MatchingEngine, NewOrder


def _feed() -> tuple[MarketDataTranslator, list[dict], MatchingEngine]:
    eng = MatchingEngine([Instrument("X")])
    tr = MarketDataTranslator(["X"])
    deltas: list[dict] = []
    for i in range(1, 30):
        side = BUY if i % 2 else SELL
        price = 100 - i % 7 if side == BUY else 101 + i % 5
        msgs = tr.on_events(eng.apply(NewOrder(i, "X", i, i % 3, side, i, price)))
        deltas += [b for _, b in msgs if b["type"] == "l2"]
    return tr, deltas, eng


def test_snapshot_then_deltas_rebuilds_the_book() -> None:
    tr, deltas, eng = _feed()
    # a snapshot taken part way: rebuild it from a fresh translator fed the first k deltas
    k = 10
    early = MarketDataTranslator(["X"])
    book = early.book("X")
    assert book is not None
    for d in deltas[:k]:
        book.set_level(BUY if d["side"] == "bid" else SELL, d["price"], d["qty"], d["count"])
    snap = {
        "seq": k,
        "bids": book.levels()[0],
        "asks": book.levels()[1],
        "checksum": book.checksum(),
    }
    local = LocalBook("X")
    assert local.load_snapshot(snap) and local.seq == k
    outcomes = [local.apply(d) for d in deltas]
    assert outcomes[:k] == [LocalBook.STALE] * k
    assert outcomes[k:] == [LocalBook.APPLIED] * (len(deltas) - k)
    assert local.book == tr.book("X")
    assert local.book.checksum() == eng.books["X"].checksum()


def test_gap_and_checksum_mismatch_are_reported() -> None:
    _, deltas, _ = _feed()
    empty = {"seq": 0, "bids": [], "asks": [], "checksum": L2Book().checksum()}
    local = LocalBook("X")
    assert local.load_snapshot(empty)
    assert local.apply(deltas[1]) == LocalBook.GAP and local.seq == 0  # untouched
    bad = dict(deltas[0], checksum=deltas[0]["checksum"] ^ 1)
    assert local.apply(bad) == LocalBook.CHECKSUM
    local.reset()
    assert not local.synced
    wrong = {"seq": 3, "bids": [[1, 1, 1]], "asks": [], "checksum": 12345}
    assert not local.load_snapshot(wrong) and not local.synced

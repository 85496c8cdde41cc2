"""Shared helpers for the matcher tests: building orders, picking events, freezing state.

``frozen_state`` is the yardstick for "a rejected command leaves the book untouched": it
captures everything observable about an engine except its sequence counter (every
order's full record in priority order, statuses, bands, last prices, the id and account
indexes and the trade counter), plus ``state_hash()`` recomputed at a fixed sequence
number so the hash itself can be compared too.
"""

from __future__ import annotations

from typing import Any

from matching import BUY, SELL, Fill, LevelChanged, MatchingEngine, NewOrder, OrdType, TimeInForce

__all__ = ["BUY", "SELL"]


def buy(oid: int, qty: int, price: int | None, acct: int = 1, ts: int = 1, sym: str = "X",
        **kw: Any) -> NewOrder:  # fmt: skip
    return NewOrder(ts, sym, oid, acct, BUY, qty, price, **kw)


def sell(oid: int, qty: int, price: int | None, acct: int = 2, ts: int = 1, sym: str = "X",
         **kw: Any) -> NewOrder:  # fmt: skip
    return NewOrder(ts, sym, oid, acct, SELL, qty, price, **kw)


def market(oid: int, side: int, qty: int, protection: int | None, acct: int = 3, ts: int = 1,
           sym: str = "X", **kw: Any) -> NewOrder:  # fmt: skip
    return NewOrder(ts, sym, oid, acct, side, qty, protection, ord_type=int(OrdType.MARKET),
                    tif=int(TimeInForce.IOC), **kw)  # fmt: skip


def of(events: list, kind: type) -> list:
    """The events of one type, in order."""
    return [e for e in events if type(e) is kind]


def kinds(events: list) -> list[str]:
    """Event type names without the price-level events."""
    return [type(e).__name__ for e in events if type(e) is not LevelChanged]


def fills(events: list) -> list[tuple[int, int, int, int]]:
    """(price, qty, taker order id, maker order id) of each fill."""
    return [(f.price, f.qty, f.taker_order_id, f.maker_order_id) for f in of(events, Fill)]


def run(engine: MatchingEngine, *cmds: object) -> list:
    """Apply commands in order; return all events; validate the engine after each."""
    out: list = []
    for cmd in cmds:
        out.extend(engine.apply(cmd))
        engine.validate()
    return out


def l3(engine: MatchingEngine, sym: str = "X") -> dict[str, list[tuple[int, int, int, int]]]:
    return engine.books[sym].l3()


def ids(engine: MatchingEngine, sym: str = "X") -> tuple[list[int], list[int]]:
    """Resting order ids (bids, asks), each in priority order."""
    snap = engine.books[sym].l3()
    return [o[0] for o in snap["bids"]], [o[0] for o in snap["asks"]]


def hash_at_seq(engine: MatchingEngine, seq: int) -> str:
    """``state_hash()`` as it would read with the sequence counter at ``seq``."""
    saved = engine.seq
    engine.seq = seq
    try:
        return engine.state_hash()
    finally:
        engine.seq = saved


def frozen_state(engine: MatchingEngine) -> dict[str, Any]:
    """Everything observable about the engine except its sequence counter."""
    books = {}
    for sym, book in sorted(engine.books.items()):
        orders = [
            (o.order_id, o.account, o.side, o.price, o.qty, o.leaves, o.cum, tuple(o.cmd))
            for side in (BUY, SELL)
            for level in book.levels(side)
            for o in level.orders()
        ]
        books[sym] = {
            "status": int(book.status),
            "band": (book.band_low, book.band_high),
            "last": book.last_price,
            "depth": book.depth(1000),
            "l3": book.l3(),
            "orders": orders,
            "checksum": book.checksum(),
        }
    return {
        "books": books,
        "order_index": sorted(engine.orders),
        "account_index": {a: sorted(map(repr, d)) for a, d in sorted(engine.accounts.items())},
        "trade_id": engine.trade_id,
        "hash": hash_at_seq(engine, 0),
    }

"""The matcher's whole state as plain data, its exact restoration, and its hash.

``export_state(engine)`` returns what a snapshot must hold for a restored engine to
continue exactly as the original would: for any further commands ``from_state`` gives an
engine that emits identical events (same values, same sequence numbers, same trade ids)
and the same ``state_hash()``.

Rules of this module:

1. Plain data only: dicts with ``str`` keys, lists, ``int``, ``str``, ``bool``, ``None``
   (msgpack and JSON can carry it as it is). Enumerated values travel as plain ints.
2. Everything that can change a future event is in it: the counters (``seq``,
   ``trade_id``), every instrument's definition, status, band and last trade price, and
   every resting order with every field, each side best level first and each level in
   queue (time) order. What is derived from these is rebuilt, not stored: the order-id
   and account indexes, level totals and counts, cached best levels, and the GTD expiry
   queue (stale entries in it never cause an event, so only live GTD orders are kept).
3. ``state_hash`` is the SHA-256 of the canonical text of ``export_state``: whatever the
   export holds the hash covers, so two engines with equal hashes behave alike.
4. ``from_state`` refuses (``ValueError``) a state it cannot restore to a valid engine.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import TYPE_CHECKING, Any

from matching.book import NO_HIGH, NO_LOW, OrderBook
from matching.commands import NewOrder
from matching.enums import BUY, InstrumentStatus, TimeInForce
from matching.instrument import Instrument
from matching.order import Order

if TYPE_CHECKING:
    from matching.engine import MatchingEngine

VERSION = 1

INSTRUMENT_FIELDS = list(Instrument._fields)
"""Keys of an instrument's definition in the state, as ``Instrument`` names them."""

ORDER_FIELDS = ["order_id", "account", "side", "price", "qty", "leaves", "cum", "cmd"]
"""Layout of one resting order in the state: a list in this order. ``price``/``qty`` are
the order's current ones (an amend or an STP decrement changes them); ``cmd`` is the
``NewOrder`` that created it, its fields in ``NewOrder._fields`` order."""

_GTD = int(TimeInForce.GTD)


def _plain(value: Any) -> Any:
    """An int subclass (an IntEnum member) as a plain int; anything else as it is."""
    if isinstance(value, int) and type(value) is not int and type(value) is not bool:
        return int(value)
    return value


def _order_record(o: Order) -> list:
    return [o.order_id, o.account, o.side, o.price, o.qty, o.leaves, o.cum,
            [_plain(v) for v in o.cmd]]  # fmt: skip


def export_state(engine: MatchingEngine) -> dict:
    """The whole state of ``engine`` as plain data (see the module rules)."""
    instruments = []
    for sym in sorted(engine.books):
        book = engine.books[sym]
        inst = book.instrument
        entry: dict[str, Any] = {name: _plain(getattr(inst, name)) for name in INSTRUMENT_FIELDS}
        entry["status"] = int(book.status)
        entry["band_low"] = None if book.band_low == NO_LOW else book.band_low
        entry["band_high"] = None if book.band_high == NO_HIGH else book.band_high
        entry["last_price"] = book.last_price
        entry["bids"] = [_order_record(o) for lv in book.levels(BUY) for o in lv.orders()]
        entry["asks"] = [_order_record(o) for lv in book.levels(-BUY) for o in lv.orders()]
        instruments.append(entry)
    return {
        "version": VERSION,
        "seq": engine.seq,
        "trade_id": engine.trade_id,
        "order_fields": list(ORDER_FIELDS),
        "instruments": instruments,
    }


def state_hash(engine: MatchingEngine) -> str:
    """SHA-256 (hex) of the canonical text of ``export_state(engine)``."""
    return hashlib.sha256(repr(export_state(engine)).encode()).hexdigest()


def from_state(cls: type[MatchingEngine], state: dict) -> MatchingEngine:
    """A new engine holding exactly ``state`` (as ``export_state`` wrote it)."""
    if not isinstance(state, dict) or state.get("version") != VERSION:
        version = state.get("version") if isinstance(state, dict) else None
        raise ValueError(f"unsupported matcher state version {version!r}")
    if state.get("order_fields") != ORDER_FIELDS:
        raise ValueError(f"unexpected order layout {state.get('order_fields')!r}")
    try:
        engine = _build(cls, state)
        engine.validate()
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"bad matcher state: {exc!r}") from exc
    return engine


def _build(cls: type[MatchingEngine], state: dict) -> MatchingEngine:
    engine = cls()
    seq, trade_id = state["seq"], state["trade_id"]
    if type(seq) is not int or type(trade_id) is not int:
        raise ValueError("seq and trade_id must be integers")
    engine.seq = seq
    engine.trade_id = trade_id
    expiries: list[tuple[int, int]] = []
    for entry in state["instruments"]:
        inst = Instrument(*(entry[name] for name in INSTRUMENT_FIELDS))
        problem = inst.check()
        if problem is not None:
            raise ValueError(f"instrument {inst.symbol!r}: {problem}")
        if inst.symbol in engine.books:
            raise ValueError(f"instrument {inst.symbol!r} twice")
        book = OrderBook(inst)
        engine.books[inst.symbol] = book
        book.status = InstrumentStatus(entry["status"])
        low, high = entry["band_low"], entry["band_high"]
        book.band_low = NO_LOW if low is None else low
        book.band_high = NO_HIGH if high is None else high
        book.last_price = entry["last_price"]
        for side, key in ((BUY, "bids"), (-BUY, "asks")):
            for rec in entry[key]:
                oid, acct, o_side, price, qty, leaves, cum, fields = rec
                if o_side != side:
                    raise ValueError(f"order {oid!r} listed on the wrong side")
                cmd = NewOrder(*fields)
                if cmd.instrument != inst.symbol or oid in engine.orders:
                    raise ValueError(f"order {oid!r}: wrong instrument or listed twice")
                order = Order(cmd, oid, acct, side, price, qty)
                order.leaves = leaves
                order.cum = cum
                book.level_for_insert(side, price).append(order)
                engine.orders[oid] = order
                key_in_account = cmd.client_order_id or oid
                acct_orders = engine.accounts.setdefault(acct, {})
                if key_in_account in acct_orders:
                    raise ValueError(f"order {oid!r}: account key {key_in_account!r} twice")
                acct_orders[key_in_account] = order
                if cmd.tif == _GTD:
                    expiries.append((cmd.expire_ts, oid))
    heapq.heapify(expiries)
    engine._expiries = expiries
    return engine

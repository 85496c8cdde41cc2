"""Recorded flow as *plain order flow*: the requests a client could send, and an in-process
matcher driven by exactly those requests.

Replaying into a running exchange (``clients.replay.wire``) a client cannot seed the book,
reveal hidden volume or repair fills: it can only send orders, cancels and amends. This
module turns a file into that flow, once, as pure data (``FlowRequest``), so the wire
replay and the in-process ``PlainReplay`` consume the same requests and must end with the
same book. Rules:

LOBSTER (``lobster_requests``): prices are LOBSTER's (dollars x 10,000) scaled to the
instrument's price units (``price_decimals``), sizes are shares scaled by
``qty_decimals``; a price or size that does not scale to whole units is skipped and
counted.

- type 1 (new limit order): ``new`` GTC limit order. Its client order id is
  ``<prefix><lobster id>`` (``.<k>`` appended for the k-th reuse of an id in the file, so
  every new order has its own id: the gateway refuses a client order id it has seen).
- type 2 (partial cancel of s shares): ``amend`` to the new total quantity (FIX OrderQty,
  which executions do not change): the order's quantity in the file's view minus s; a
  cancel when nothing would be left.
- type 3 (delete): ``cancel``.
- type 4 (execution of a visible order): an aggressive ``new`` IOC limit order on the other
  side at the execution price for the executed size (client order id ``<prefix>x<n>``).
  It trades with whatever rests there in *this* book: there is no fill repair.
- types 5, 6 (hidden and cross trades) and 7 (halts) are not order flow: skipped, counted.
- Cancels, deletes and partial cancels of an order the file never added (it rested
  before the file starts: there is no seeding) are skipped and counted.

crossbook CSV (``csv_requests``, docs/csv-flow.md): each row as it is; prices are ticks
(x ``tick_size`` = price units), quantities lots (x ``lot_size``), ``POST`` is a post-only
GTC order, the ``order_id`` column names the order (client order id ``<prefix><id>``) and
the account column is ignored (everything is sent from one account).

``PlainReplay`` applies requests to a ``MatchingEngine`` holding one instrument with the
exchange's definition, all from one account, with the matcher's own ids; a cancel or
amend naming an order the engine never accepted counts as an ``UNKNOWN_ORDER`` reject, as
the exchange answers it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from clients.replay.csvflow import FlowRow
from clients.replay.lobster import (
    CANCEL,
    CROSS,
    DELETE,
    EXECUTE,
    HALT,
    HIDDEN,
    NEW,
    LobsterMessage,
)
from clients.replay.rows import BadRow
from gateway.reasons import Reason
from matching.commands import AmendOrder, CancelOrder, NewOrder
from matching.engine import MatchingEngine
from matching.enums import BUY, TimeInForce
from matching.events import (
    CancelRejected,
    CommandRejected,
    Fill,
    OrderAccepted,
    OrderRejected,
)
from matching.instrument import Instrument

LOBSTER_PRICE_DECIMALS = 4
PLAIN_ACCOUNT = 1
SIDE_NAMES = {1: "buy", -1: "sell"}
TIF_NAMES = {int(TimeInForce.GTC): "gtc", int(TimeInForce.IOC): "ioc",
             int(TimeInForce.FOK): "fok"}  # fmt: skip
TIF_CODES = {"gtc": int(TimeInForce.GTC), "ioc": int(TimeInForce.IOC),
             "fok": int(TimeInForce.FOK)}  # fmt: skip


class FlowRequest(NamedTuple):
    """One request of plain order flow, in the instrument's integer units."""

    line: int
    ts: int
    """recorded time, ns (pacing only: the exchange stamps its own time)"""
    action: str
    """``new``, ``cancel`` or ``amend``"""
    clid: str
    """new: the order's client order id; cancel and amend: the target's"""
    side: str | None = None
    price: int | None = None
    qty: int | None = None
    """new: the quantity; amend: the new total quantity"""
    tif: str = "gtc"
    post_only: bool = False

    def message(self, instrument: str) -> dict[str, Any]:
        """The order-entry request (``docs/protocol.md``), without ``req_id``."""
        if self.action == "new":
            msg: dict[str, Any] = {
                "type": "new_order", "instrument": instrument, "side": self.side,
                "ord_type": "limit", "qty": self.qty, "price": self.price, "tif": self.tif,
                "client_order_id": self.clid,
            }  # fmt: skip
            if self.post_only:
                msg["post_only"] = True
            return msg
        if self.action == "cancel":
            return {"type": "cancel", "client_order_id": self.clid, "instrument": instrument}
        return {"type": "amend", "client_order_id": self.clid, "instrument": instrument,
                "qty": self.qty}  # fmt: skip


@dataclass
class FlowStats:
    """What the translation kept out of the flow, and why."""

    rows: int = 0
    requests: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "requests": self.requests,
                "skipped": dict(sorted(self.skipped.items()))}  # fmt: skip


def _scale(value: int, from_decimals: int, to_decimals: int) -> int | None:
    """``value`` at ``from_decimals`` as an integer at ``to_decimals`` (None: not whole)."""
    shift = to_decimals - from_decimals
    if shift >= 0:
        return value * 10**shift
    q, r = divmod(value, 10**-shift)
    return None if r else q


def lobster_requests(
    messages: Iterable[LobsterMessage | BadRow],
    *,
    price_decimals: int,
    qty_decimals: int,
    prefix: str = "L",
    stats: FlowStats | None = None,
) -> Iterator[FlowRequest]:
    """Plain order flow from LOBSTER messages (rules in the module docstring)."""
    st = stats if stats is not None else FlowStats()
    live: dict[int, str] = {}  # LOBSTER id -> client order id of its latest new order
    qty_of: dict[str, int] = {}  # client order id -> OrderQty in the file's view
    reuse: Counter[int] = Counter()
    takers = 0
    for msg in messages:
        st.rows += 1
        if type(msg) is BadRow:
            st.skipped["bad_row"] += 1
            continue
        t = msg.type
        if t in (HIDDEN, CROSS, HALT):
            st.skipped[{HIDDEN: "hidden_execution", CROSS: "cross_trade", HALT: "halt"}[t]] += 1
            continue
        price = _scale(msg.price, LOBSTER_PRICE_DECIMALS, price_decimals)
        size = _scale(msg.size, 0, qty_decimals)
        if price is None or size is None:
            st.skipped["not_whole_units"] += 1
            continue
        side = SIDE_NAMES[msg.direction]
        if t == NEW:
            k = reuse[msg.order_id]
            reuse[msg.order_id] += 1
            clid = f"{prefix}{msg.order_id}" + (f".{k}" if k else "")
            live[msg.order_id] = clid
            qty_of[clid] = size
            st.requests += 1
            yield FlowRequest(msg.line, msg.ts, "new", clid, side, price, size)
        elif t == EXECUTE:
            takers += 1
            st.requests += 1
            yield FlowRequest(msg.line, msg.ts, "new", f"{prefix}x{takers}",
                              SIDE_NAMES[-msg.direction], price, size, "ioc")  # fmt: skip
        elif t in (CANCEL, DELETE):
            clid = live.get(msg.order_id)
            if clid is None:
                st.skipped["order_before_file"] += 1
                continue
            left = qty_of[clid] - size
            st.requests += 1
            if t == DELETE or left <= 0:
                del live[msg.order_id]
                yield FlowRequest(msg.line, msg.ts, "cancel", clid)
            else:
                qty_of[clid] = left
                yield FlowRequest(msg.line, msg.ts, "amend", clid, qty=left)


def csv_requests(
    rows: Iterable[FlowRow | BadRow],
    *,
    tick_size: int,
    lot_size: int,
    prefix: str = "C",
    only: str | None = None,
    stats: FlowStats | None = None,
) -> Iterator[FlowRequest]:
    """Plain order flow from crossbook's CSV rows (rules in the module docstring); with
    ``only``, rows naming another instrument are skipped (counted as ``other_instrument``)."""
    st = stats if stats is not None else FlowStats()
    for row in rows:
        st.rows += 1
        if type(row) is BadRow:
            st.skipped["bad_row"] += 1
            continue
        cmd = row.command
        if only is not None and cmd.instrument != only:
            st.skipped["other_instrument"] += 1
            continue
        clid = f"{prefix}{cmd.order_id}"
        st.requests += 1
        if row.action == "new":
            assert isinstance(cmd, NewOrder)
            yield FlowRequest(
                row.line, cmd.ts, "new", clid, SIDE_NAMES.get(cmd.side),
                cmd.price * tick_size, cmd.qty * lot_size, TIF_NAMES.get(cmd.tif, "gtc"),
                cmd.post_only,
            )  # fmt: skip
        elif row.action == "cancel":
            yield FlowRequest(row.line, cmd.ts, "cancel", clid)
        else:
            assert isinstance(cmd, AmendOrder)
            price = None if cmd.price is None else cmd.price * tick_size
            qty = None if cmd.qty is None else cmd.qty * lot_size
            yield FlowRequest(row.line, cmd.ts, "amend", clid, price=price, qty=qty)


def instrument_from_record(rec: Mapping[str, Any]) -> Instrument:
    """A matcher ``Instrument`` from a ``query_instruments`` record."""
    return Instrument(
        str(rec["symbol"]), int(rec["tick_size"]), int(rec["lot_size"]), int(rec["min_qty"]),
        int(rec["max_qty"]), int(rec["price_decimals"]), int(rec["qty_decimals"]),
    )  # fmt: skip


class PlainReplay:
    """Plain order flow through an in-process matcher (one instrument, one account)."""

    def __init__(self, instrument: Instrument) -> None:
        self.symbol = instrument.symbol
        self.engine = MatchingEngine([instrument])
        self.ids: dict[str, int] = {}
        self._next_id = 0
        self.sent: Counter[str] = Counter()
        self.accepted = 0
        self.fills = 0
        self.filled_qty = 0
        self.rejects: Counter[str] = Counter()

    def apply(self, req: FlowRequest) -> list:
        self.sent[req.action] += 1
        sym = self.symbol
        if req.action == "new":
            self._next_id += 1
            oid = self._next_id
            cmd: object = NewOrder(
                req.ts, sym, oid, PLAIN_ACCOUNT, BUY if req.side == "buy" else -BUY,
                req.qty, req.price, tif=TIF_CODES[req.tif], client_order_id=req.clid,
                post_only=req.post_only,
            )  # fmt: skip
            self.ids[req.clid] = oid
        else:
            oid_or_none = self.ids.get(req.clid)
            if oid_or_none is None or oid_or_none not in self.engine.orders:
                self.rejects[Reason.UNKNOWN_ORDER.name] += 1
                return []
            if req.action == "cancel":
                cmd = CancelOrder(req.ts, sym, oid_or_none, PLAIN_ACCOUNT)
            else:
                cmd = AmendOrder(req.ts, sym, oid_or_none, PLAIN_ACCOUNT, req.price, req.qty)
        events = self.engine.apply(cmd)
        for e in events:
            t = type(e)
            if t is OrderAccepted:
                self.accepted += 1
            elif t is Fill:
                self.fills += 1
                self.filled_qty += e.qty
            elif t is OrderRejected or t is CancelRejected or t is CommandRejected:
                self.rejects[Reason(e.reason).name] += 1
        return events

    def run(self, requests: Iterable[FlowRequest]) -> PlainReplay:
        for req in requests:
            self.apply(req)
        return self

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Every level of the book as (price, quantity), best first: (bids, asks)."""
        book = self.engine.books[self.symbol]
        return book.depth(1 << 30)

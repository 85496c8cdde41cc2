"""The private half of ``Exchange``, without I/O: the account's orders, fills, positions,
balances and margin as the session reports them, and which request each answer completes.

``PrivateState.on_message(msg)`` takes every decoded message the order-entry session
delivers (``clients.sdk.connection``). Rules:

1. Orders are kept by exchange order id, from their first report until ``MAX_FINISHED``
   later finished ones; a working order is also indexed by its client order id. A report
   overwrites only the fields it carries (``decode`` fills absent optional fields with
   nil, which must not erase a known price or type).
2. A request waits on a ``Waiter``, found by ``req_id`` (direct answers: acks, query
   replies, rejects, cancel rejects, mass-cancel reports), by client order id (the reports
   of a new order, which need not carry ``req_id``) or by order id (cancels and amends).
   A new order completes on ``New`` (on its terminal report for IOC, FOK and market
   orders) or ``Rejected``; a cancel on ``Canceled``; an amend on ``Replaced``; a refusal
   completes it with the exception ``clients.sdk.errors`` maps its reason to.
3. Every change is published on the streams the ``watch_*`` calls wait on
   (``clients.sdk.streams``); records are built with the instrument's ``Market``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clients.sdk.errors import error_from_message
from clients.sdk.markets import Market
from clients.sdk.records import (
    Balances,
    Margin,
    Order,
    Position,
    Trade,
    balances_from_records,
    margin_from_record,
    order_from_state,
    position_from_record,
    trade_from_fill,
)
from clients.sdk.streams import ListStream, StateStream
from gateway.protocol import TERMINAL_STATUSES, ExecType, MsgType

log = logging.getLogger(__name__)

ORDER_FIELDS = (
    "order_id", "client_order_id", "instrument", "side", "ord_type", "tif", "price",
    "order_qty", "cum_qty", "leaves_qty", "avg_px", "cum_notional", "ord_status", "ts",
    "post_only", "reduce_only", "stp", "expire_ts",
)  # fmt: skip
MAX_FINISHED = 10_000


@dataclass
class Waiter:
    future: asyncio.Future[Any]
    kind: str
    req_id: int
    clid: str | None = None
    order_id: int | None = None
    until_done: bool = False
    items: list[Any] = field(default_factory=list)
    instrument: str | None = None


class PrivateState:
    """Orders, fills, positions, balances, margin, and the requests waiting for answers."""

    def __init__(
        self, markets_by_id: Mapping[str, Market], asset_decimals: Mapping[str, int]
    ) -> None:
        self.markets_by_id = markets_by_id
        self.asset_decimals = asset_decimals
        self.by_req: dict[int, Waiter] = {}
        self.by_clid: dict[str, Waiter] = {}
        self.by_order: dict[int, list[Waiter]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.finished: OrderedDict[int, None] = OrderedDict()
        self.live_clid: dict[str, int] = {}
        self.sent_flags: dict[str, tuple[bool, bool]] = {}
        self.positions: dict[str, dict[str, Any]] = {}
        self.balances: dict[str, dict[str, Any]] = {}
        self.margin: dict[str, Any] | None = None
        self.notices: deque[dict[str, Any]] = deque(maxlen=1000)
        self.orders_stream: ListStream[Order] = ListStream()
        self.my_trades_stream: ListStream[Trade] = ListStream()
        self.positions_stream: StateStream[list[Position]] = StateStream(self.position_list)
        self.balance_stream: StateStream[Balances] = StateStream(self.balance_record)
        self.margin_stream: StateStream[Margin] = StateStream(self.margin_record)

    # -- waiters ------------------------------------------------------------------------
    def waiter(self, kind: str, req_id: int, **kw: Any) -> Waiter:
        w = Waiter(asyncio.get_running_loop().create_future(), kind, req_id, **kw)
        self.by_req[req_id] = w
        if w.clid is not None:
            self.by_clid[w.clid] = w
        if w.order_id is not None:
            self.by_order.setdefault(w.order_id, []).append(w)
        return w

    def drop(self, w: Waiter) -> None:
        if self.by_req.get(w.req_id) is w:
            del self.by_req[w.req_id]
        if w.clid is not None and self.by_clid.get(w.clid) is w:
            del self.by_clid[w.clid]
        if w.order_id is not None:
            lst = self.by_order.get(w.order_id)
            if lst is not None and w in lst:
                lst.remove(w)
                if not lst:
                    del self.by_order[w.order_id]

    def resolve(self, w: Waiter, value: Any) -> None:
        self.drop(w)
        if not w.future.done():
            w.future.set_result(value)

    def reject(self, w: Waiter, exc: BaseException) -> None:
        self.drop(w)
        if not w.future.done():
            w.future.set_exception(exc)

    def fail_all(self, exc: BaseException) -> None:
        for w in list(self.by_req.values()):
            self.reject(w, exc)

    def on_message(self, msg: dict[str, Any]) -> None:
        t = msg["type"]
        if t == MsgType.EXEC_REPORT:
            self.on_exec(msg)
        elif t == MsgType.QUERY_REPLY:
            w = self.by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is not None:
                w.items.extend(msg["items"])
                if msg.get("last", True):
                    self.resolve(w, w.items)
        elif t in (MsgType.SUBSCRIBE_ACK, MsgType.CANCEL_ALL_AFTER_ACK):
            w = self.by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is not None:
                self.resolve(w, msg)
        elif t == MsgType.MASS_CANCEL_REPORT:
            w = self.by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is not None:
                self.resolve(w, w.items)
        elif t == MsgType.REJECT:
            w = self.by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is not None:
                self.reject(w, error_from_message(msg))
            else:
                log.warning("reject without a request: %s", msg.get("text"))
        elif t == MsgType.CANCEL_REJECT:
            w = self.by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is None and msg.get("order_id") is not None:
                kind = "amend" if msg.get("response_to") == "amend" else "cancel"
                for cand in self.by_order.get(msg["order_id"], []):
                    if cand.kind == kind:
                        w = cand
                        break
            if w is not None:
                self.reject(w, error_from_message(msg))
        elif t == MsgType.POSITION_UPDATE:
            self.positions[msg["instrument"]] = msg
            self.positions_stream.publish()
        elif t == MsgType.BALANCE_UPDATE:
            self.balances[msg["asset"]] = msg
            self.balance_stream.publish()
        elif t == MsgType.MARGIN_UPDATE:
            self.margin = msg
            self.margin_stream.publish()
        elif t in (MsgType.MARGIN_CALL, MsgType.LIQUIDATION_NOTICE):
            self.notices.append(msg)
            log.warning("%s: %s", t, msg.get("text"))

    def on_exec(self, rep: dict[str, Any]) -> None:
        et = rep["exec_type"]
        clid = rep.get("client_order_id") or ""
        oid = rep.get("order_id")
        if et == ExecType.REJECTED:
            w = self.by_req.get(rep.get("req_id"))  # type: ignore[arg-type]
            if w is None and clid:
                w = self.by_clid.get(clid)
            if w is not None and w.kind == "new":
                self.reject(w, error_from_message(rep))
        if oid is None:  # a reject before an order id was assigned: nothing to track
            return
        st = self.orders.get(oid)
        if st is None:
            st = self.orders[oid] = {"created_ts": rep.get("ts")}
            flags = self.sent_flags.pop(clid, None)
            if flags is not None:
                st["post_only"], st["reduce_only"] = flags
        for k in ORDER_FIELDS:
            v = rep.get(k)
            if v is not None:
                st[k] = v
        status = rep.get("ord_status")
        if et == ExecType.TRADE:
            st["last_trade_ts"] = rep.get("ts")
        if status in TERMINAL_STATUSES:
            if self.live_clid.get(clid) == oid:
                del self.live_clid[clid]
            self.finished[oid] = None
            while len(self.finished) > MAX_FINISHED:
                old, _ = self.finished.popitem(last=False)
                self.orders.pop(old, None)
        elif clid:
            self.live_clid[clid] = oid
        market = self.markets_by_id.get(str(rep.get("instrument")))
        if market is not None:
            self.orders_stream.extend([order_from_state(st, market)])
            if et == ExecType.TRADE and rep.get("last_qty"):
                self.my_trades_stream.extend([trade_from_fill(rep, market)])
        # waiters: the new order, then cancels/amends/mass cancels of this order
        w = self.by_clid.get(clid) if clid else None
        if w is not None:
            if w.kind == "new":
                if status in TERMINAL_STATUSES or (et == ExecType.NEW and not w.until_done):
                    self.resolve(w, oid)
            elif (w.kind == "cancel" and et == ExecType.CANCELED) or (
                w.kind == "amend" and et == ExecType.REPLACED
            ):
                self.resolve(w, oid)
        for cand in list(self.by_order.get(oid, [])):
            done = ExecType.CANCELED if cand.kind == "cancel" else ExecType.REPLACED
            if et == done:
                self.resolve(cand, oid)
        if et == ExecType.CANCELED and rep.get("end_reason") == "mass_cancel":
            # only this session's own mass cancel: its reports carry the request's id (another
            # session's mass cancel reaches this one as pushes without it)
            cand = self.by_req.get(rep.get("req_id"))  # type: ignore[arg-type]
            if cand is not None and cand.kind == "mass_cancel":
                cand.items.append(oid)

    def adopt(self, rec: dict[str, Any]) -> None:
        oid = rec["order_id"]
        st = self.orders.setdefault(oid, {"created_ts": rec.get("ts")})
        for k in ORDER_FIELDS:
            if k in rec:
                st[k] = rec[k]
        clid = rec.get("client_order_id") or ""
        if rec.get("ord_status") in TERMINAL_STATUSES:
            self.finished[oid] = None
            if self.live_clid.get(clid) == oid:
                del self.live_clid[clid]
        elif clid:
            self.live_clid[clid] = oid
        market = self.markets_by_id.get(rec["instrument"])
        if market is not None:
            self.orders_stream.extend([order_from_state(st, market)])

    def cached_order(self, id: str | int | None) -> Order | None:
        """The latest state of an order this client has seen (no request is sent)."""
        try:
            oid = int(id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        st = self.orders.get(oid)
        if st is None or st.get("instrument") not in self.markets_by_id:
            return None
        return self.order_record(oid)

    def order_record(self, oid: int) -> Order:
        st = self.orders[oid]
        return order_from_state(st, self.markets_by_id[st["instrument"]])

    def position_list(self) -> list[Position] | None:
        out = []
        for inst, rec in self.positions.items():
            m = self.markets_by_id.get(inst)
            if m is not None:
                out.append(position_from_record(rec, m, self.asset_decimals))
        return out

    def balance_record(self) -> Balances | None:
        if not self.balances:
            return None
        return balances_from_records(list(self.balances.values()), self.asset_decimals)

    def margin_record(self) -> Margin | None:
        return None if self.margin is None else margin_from_record(self.margin, self.asset_decimals)

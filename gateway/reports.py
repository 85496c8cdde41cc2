"""Execution reports: matcher (and clearing) events -> FIX 4.4 messages for the order's owner.

``OrderTracker.apply(event, hops)`` turns one event into zero or more protocol messages
(``exec_report``, ``cancel_reject``, ``mass_cancel_report``, ``reject``), each carrying its
``account`` so the gateway can route it. Rules (mapping table in ``docs/protocol.md``):

1. One report per order per event: a ``Fill`` gives two, taker's then maker's (an auction
   uncross: buyer's then seller's, liquidity ``auction``). ExecType F on every fill; the
   order's state is in OrdStatus (1 partially filled, 2 filled).
2. While an order lives, ``order_qty == cum_qty + leaves_qty``; on a terminal report
   (filled, canceled, expired, rejected) ``leaves_qty == 0`` and ``order_qty - cum_qty`` is
   what was never filled.
3. ``avg_px`` is ``decimal_ratio(cum_notional, cum_qty)``: ``cum_notional`` is the exact
   integer sum of ``last_px * last_qty``.
4. Per-order state is kept from acceptance until the terminal report and forgotten in the
   same step, from both indexes (order id; account + client order id). An order first seen
   mid-life (the tracker started late) is reported from the event alone and adopted at its
   next fill, with ``avg_px`` and ``cum_notional`` nil: its earlier fills are unknown.
5. ``exec_id`` is ``2 * seq`` of the matcher event (``+ 1`` for the second report of the
   same event), so it is unique, increasing and identical on replay; rejects that never
   reached the matcher use 0.
6. Hop timestamps (``Hops``) describe the command that caused the event; the gateway sets
   ``ts_gw_out`` just before sending.
7. Events are dispatched by class name, so ``gateway`` needs no ``clearing`` types. Built in,
   duck-typed: clearing's ``PreTradeRejected`` and ``RequestRejected`` (``required`` /
   ``available`` become ``figures``). The gateway should prefer ``reject_request(event,
   request)``, which answers in the request's own terms (a refused amend is a cancel_reject)
   and echoes its ``req_id``. More translators plug in with ``register(name, handler)``.
   Unknown events give no message. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from gateway.protocol import (
    END_REASON_NAMES,
    ORD_TYPE_NAMES,
    PROTOCOL_VERSION,
    SIDE_NAMES,
    STP_NAMES,
    TIF_NAMES,
    ExecType,
    OrdStatus,
    decimal_ratio,
)
from gateway.reasons import Reason
from matching.enums import CxlRejResponseTo, StpMode


class Hops(NamedTuple):
    """Exchange timestamps (ns) of the command behind an event; 0 = hop not visited.

    The field names are the wire names (``HOP_FIELDS`` less ``ts_gw_out``, which the
    gateway sets as it sends), so ``zip(Hops._fields, hops)`` gives a report's hop fields.
    """

    ts_gw_in: int = 0
    ts_clr_in: int = 0
    ts_clr_out: int = 0
    ts_me_in: int = 0
    ts_me_out: int = 0


NO_HOPS = Hops()

# -- FIX reason mappings -----------------------------------------------------------------
_ORD_REJ: dict[int, int] = {}
for _fix, _reasons in (
    (1, ("UNKNOWN_INSTRUMENT", "UNKNOWN_CLEARING_INSTRUMENT", "INVALID_INSTRUMENT")),
    (2, ("INSTRUMENT_HALTED", "MARKET_HALTED", "SETTLEMENT_STOPPED", "SERVICE_UNAVAILABLE",
         "INSTRUMENT_EXPIRED")),
    (3, ("INSUFFICIENT_MARGIN", "INSUFFICIENT_COLLATERAL", "TOO_MANY_OPEN_ORDERS",
         "QUANTITY_TOO_LARGE", "PRICE_OUTSIDE_STATIC_BAND", "PRICE_OUTSIDE_BAND",
         "POSITION_LIMIT_EXCEEDED")),
    (6, ("DUPLICATE_ORDER_ID", "DUPLICATE_CLIENT_ORDER_ID", "DUPLICATE_REQUEST")),
    (11, ("POST_ONLY_WOULD_TAKE", "INVALID_ORDER_TYPE", "INVALID_TIME_IN_FORCE",
          "INVALID_STP_MODE", "REDUCE_ONLY_WOULD_INCREASE", "NOT_ALLOWED_IN_AUCTION",
          "INVALID_FLAG", "MISSING_PROTECTION_PRICE", "INVALID_EXPIRE_TIME")),
    (13, ("INVALID_QUANTITY", "OFF_LOT_QUANTITY", "QUANTITY_TOO_SMALL")),
    (15, ("UNKNOWN_ACCOUNT", "INVALID_ACCOUNT", "ACCOUNT_IN_LIQUIDATION")),
):  # fmt: skip
    for _name in _reasons:
        if _name in Reason.__members__:
            _ORD_REJ[int(Reason[_name])] = _fix


_UNKNOWN_CLEARING_ORDER = int(getattr(Reason, "UNKNOWN_CLEARING_ORDER", Reason.UNKNOWN_ORDER))


def ord_rej_reason(reason: int) -> int:
    """FIX OrdRejReason (103) for a ``Reason``: 1 unknown symbol, 2 exchange closed, 3 order
    exceeds limit, 6 duplicate order, 11 unsupported order characteristic, 13 incorrect
    quantity, 15 unknown account, 99 other."""
    return _ORD_REJ.get(int(reason), 99)


def cxl_rej_reason(reason: int) -> int:
    """FIX CxlRejReason (102): 1 unknown order, 6 duplicate ClOrdID, 99 other."""
    reason = int(reason)
    if reason == Reason.UNKNOWN_ORDER or reason == _UNKNOWN_CLEARING_ORDER:
        return 1
    if reason in (Reason.DUPLICATE_CLIENT_ORDER_ID, Reason.DUPLICATE_REQUEST):
        return 6
    return 99


def _reason(code: Any) -> tuple[int, str, str]:
    """``(code, name, default text)``; a code this build does not know keeps its number."""
    try:
        r = Reason(int(code))
    except (TypeError, ValueError):
        n = code if type(code) is int and code > 0 else int(Reason.SERVICE_UNAVAILABLE)
        return n, "UNKNOWN_REASON", f"reason {n}"
    return int(r), r.name, r.text


_FIGURE_NAMES: dict[int, tuple[str, str]] = {
    int(Reason.PRICE_OUTSIDE_STATIC_BAND): ("band_limit", "price"),
}
"""Clearing reports every refusal as ``(required, available)``; where those words would
mislead, the figures get better names (documented in docs/protocol.md)."""


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def wire_figure(value: int | str) -> int | str:
    """A figure as it goes on the wire: an int within int64, else its decimal string (a
    price the protocol allows times a quantity it allows can exceed int64; docs/protocol.md).
    A string (the core already made one) passes as it is."""
    if type(value) is str or _I64_MIN <= value <= _I64_MAX:
        return value
    return str(value)


def clearing_figures(reason: Any, required: Any, available: Any) -> dict[str, int | str] | None:
    """The ``figures`` of a clearing refusal; None when it carries no numbers (both 0)."""
    if type(required) not in (int, str) or type(available) not in (int, str):
        return None
    if required == 0 and available == 0:
        return None
    key = int(reason) if isinstance(reason, int) else 0
    a, b = _FIGURE_NAMES.get(key, ("required", "available"))
    return {a: wire_figure(required), b: wire_figure(available)}


# -- per-order state ---------------------------------------------------------------------
class OrderState:
    """What the tracker knows about one working order (matcher ints inside)."""

    __slots__ = (
        "account", "client_order_id", "cum_notional", "cum_qty", "expire_ts", "instrument",
        "leaves_qty", "ord_status", "ord_type", "order_id", "order_qty", "post_only", "price",
        "reduce_only", "side", "stp", "tif", "ts",
    )  # fmt: skip

    def __init__(
        self,
        order_id: int,
        account: int,
        instrument: str,
        client_order_id: str,
        side: int,
        order_qty: int,
        price: int | None = None,
        ord_type: int | None = None,
        tif: int | None = None,
        cum_qty: int = 0,
        cum_notional: int | None = 0,
        post_only: bool = False,
        reduce_only: bool = False,
        stp: int = 0,
        expire_ts: int = 0,
        ts: int = 0,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.instrument = instrument
        self.client_order_id = client_order_id
        self.side = side
        self.ord_type = ord_type
        self.tif = tif
        self.price = price
        self.order_qty = order_qty
        self.cum_qty = cum_qty
        self.leaves_qty = order_qty - cum_qty
        self.cum_notional = cum_notional
        self.ord_status = OrdStatus.NEW if cum_qty == 0 else OrdStatus.PARTIALLY_FILLED
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.stp = stp
        self.expire_ts = expire_ts
        self.ts = ts

    @property
    def avg_px(self) -> str | None:
        n = self.cum_notional
        return None if n is None else decimal_ratio(n, self.cum_qty)

    def __repr__(self) -> str:
        return (
            f"OrderState(id={self.order_id}, acct={self.account}, {self.ord_status!r}, "
            f"qty={self.order_qty}, cum={self.cum_qty}, leaves={self.leaves_qty})"
        )


Handler = Callable[["OrderTracker", Any, Hops], list[dict]]
"""A translator: ``(tracker, event, hops) -> messages``."""


def _report(
    st: OrderState, exec_type: str, ord_status: str, exec_id: int, ts: int, hops: Hops
) -> dict:
    n = st.cum_notional
    return {
        "v": PROTOCOL_VERSION,
        "type": "exec_report",
        "account": st.account,
        "exec_id": exec_id,
        "exec_type": exec_type,
        "ord_status": ord_status,
        "order_id": st.order_id,
        "client_order_id": st.client_order_id,
        "instrument": st.instrument,
        "side": SIDE_NAMES.get(st.side),
        "ord_type": ORD_TYPE_NAMES.get(st.ord_type),  # type: ignore[arg-type]
        "tif": TIF_NAMES.get(st.tif),  # type: ignore[arg-type]
        "price": st.price,
        "order_qty": st.order_qty,
        "cum_qty": st.cum_qty,
        "leaves_qty": st.leaves_qty,
        "avg_px": None if n is None else decimal_ratio(n, st.cum_qty),
        "cum_notional": n,
        "ts": ts,
        **dict(zip(Hops._fields, hops)),
        "ts_gw_out": 0,
    }


def _live_status(st: OrderState) -> str:
    return OrdStatus.NEW if st.cum_qty == 0 else OrdStatus.PARTIALLY_FILLED


class OrderTracker:
    """Per-order state keyed by order id, and the event -> report translation."""

    def __init__(self) -> None:
        self.orders: dict[int, OrderState] = {}
        self._by_clid: dict[tuple[int, str], OrderState] = {}
        self._handlers: dict[str, Handler] = dict(_BUILTIN)

    # -- hook ---------------------------------------------------------------------------
    def register(self, event_name: str, handler: Handler) -> None:
        """Translate events whose class is named ``event_name`` with ``handler`` (replaces a
        built-in one). This is how clearing events reach the bot without ``gateway``
        importing ``clearing`` types."""
        self._handlers[event_name] = handler

    # -- translation --------------------------------------------------------------------
    def apply(self, event: Any, hops: Hops = NO_HOPS) -> list[dict]:
        """The messages one event causes (possibly none), in order."""
        handler = self._handlers.get(type(event).__name__)
        if handler is None:
            return []
        return handler(self, event, hops)

    def apply_all(self, events: Iterable[Any], hops: Hops = NO_HOPS) -> list[dict]:
        out: list[dict] = []
        for event in events:
            out.extend(self.apply(event, hops))
        return out

    def reject_request(self, event: Any, request: dict, hops: Hops = NO_HOPS) -> list[dict]:
        """The answer to a clearing refusal (``PreTradeRejected`` / ``RequestRejected``) of
        ``request``, the decoded message that caused it: an ``exec_report`` Rejected for a
        new_order, a ``cancel_reject`` for a cancel or amend, else a ``reject``. The request's
        ``req_id`` is echoed and its fields fill in what the event does not carry."""
        account = event.account
        if type(account) is not int:
            return []
        figures = clearing_figures(event.reason, event.required, event.available)
        kind = request.get("type")
        req_id = request.get("req_id")
        if kind == "new_order":
            msg = order_reject(account, event.reason, ts=event.ts, text=event.text,
                               figures=figures, hops=hops, request=request)  # fmt: skip
        elif kind == "cancel" or kind == "amend":
            oid = request.get("order_id")
            clid = request.get("client_order_id")
            st = self.orders.get(oid) if type(oid) is int else None
            if st is None and type(clid) is str:
                st = self.find(account, clid)
            if st is not None and st.account != account:
                st = None  # never reveal another account's order
            msg = cancel_reject(
                account, event.reason, response_to=kind, ts=event.ts,
                order_id=st.order_id if st is not None else oid,
                client_order_id=st.client_order_id if st is not None else clid,
                instrument=st.instrument if st is not None else request.get("instrument"),
                ord_status=st.ord_status if st is not None else OrdStatus.REJECTED,
                text=event.text, figures=figures, hops=hops,
            )  # fmt: skip
        else:
            msg = reject_message(event.reason, ts=event.ts, ref_type=kind, text=event.text,
                                 figures=figures)  # fmt: skip
            msg["account"] = account
        msg["req_id"] = req_id
        return [msg]

    # -- lookups ------------------------------------------------------------------------
    def get(self, order_id: int) -> OrderState | None:
        return self.orders.get(order_id)

    def find(self, account: int, client_order_id: str) -> OrderState | None:
        """A working order by its owner's client order id."""
        return self._by_clid.get((account, client_order_id))

    def open_orders(self, account: int, instrument: str | None = None) -> Iterator[OrderState]:
        """An account's working orders (a scan of all orders: for queries, not hot paths)."""
        for st in self.orders.values():
            if st.account == account and (instrument is None or st.instrument == instrument):
                yield st

    def __len__(self) -> int:
        return len(self.orders)

    def order_record(self, st: OrderState) -> dict:
        """The ``orders`` query-reply item for a working order."""
        return {
            "order_id": st.order_id,
            "client_order_id": st.client_order_id,
            "instrument": st.instrument,
            "side": SIDE_NAMES[st.side],
            "ord_type": ORD_TYPE_NAMES.get(st.ord_type, "limit"),  # type: ignore[arg-type]
            "tif": TIF_NAMES.get(st.tif, "gtc"),  # type: ignore[arg-type]
            "price": st.price,
            "order_qty": st.order_qty,
            "cum_qty": st.cum_qty,
            "leaves_qty": st.leaves_qty,
            "avg_px": st.avg_px,
            "ord_status": st.ord_status,
            "post_only": st.post_only,
            "reduce_only": st.reduce_only,
            "stp": STP_NAMES.get(st.stp, "none"),
            "expire_ts": st.expire_ts,
            "ts": st.ts,
        }

    # -- state changes ------------------------------------------------------------------
    def track(self, st: OrderState) -> None:
        """Start tracking ``st`` (also used to restore state after a restart)."""
        self.orders[st.order_id] = st
        if st.client_order_id:
            self._by_clid[(st.account, st.client_order_id)] = st

    def _forget(self, st: OrderState) -> None:
        self.orders.pop(st.order_id, None)
        if st.client_order_id:
            key = (st.account, st.client_order_id)
            if self._by_clid.get(key) is st:
                del self._by_clid[key]

    def _state(
        self, order_id: int, account: int, instrument: str, side: int, cum: int, leaves: int
    ) -> OrderState:
        """The tracked state of an order, adopting one first seen mid-life (rule 4)."""
        st = self.orders.get(order_id)
        if st is None:
            st = OrderState(order_id, account, instrument, "", side, cum + leaves,
                            cum_qty=cum, cum_notional=None)  # fmt: skip
            self.track(st)
        return st

    def _end(
        self, e: Any, exec_type: str, status: str, gone: int, hops: Hops, exec_id: int
    ) -> list[dict]:
        """Cancel / expire: the order leaves with ``gone`` unfilled quantity."""
        st = self.orders.get(e.order_id)
        if st is None:
            st = OrderState(e.order_id, e.account, e.instrument, e.client_order_id, 0,
                            e.cum_qty + gone, cum_qty=e.cum_qty, cum_notional=None)  # fmt: skip
        st.cum_qty = e.cum_qty
        st.leaves_qty = 0
        st.ord_status = status
        st.ts = e.ts
        self._forget(st)
        rep = _report(st, exec_type, status, exec_id, e.ts, hops)
        rep["end_reason"] = END_REASON_NAMES.get(int(e.reason))
        return [rep]


# -- built-in translators ----------------------------------------------------------------
def _on_accepted(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    st = OrderState(e.order_id, e.account, e.instrument, e.client_order_id, e.side, e.qty,
                    e.price, e.ord_type, e.tif, 0, 0, e.post_only, e.reduce_only, e.stp,
                    e.expire_ts, e.ts)  # fmt: skip
    tr.track(st)
    return [_report(st, ExecType.NEW, OrdStatus.NEW, 2 * e.seq, e.ts, hops)]


def _on_fill(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    aggressor = e.aggressor
    if aggressor:
        legs = ((e.taker_order_id, e.taker_account, e.taker_cum, e.taker_leaves, aggressor,
                 "taker"),
                (e.maker_order_id, e.maker_account, e.maker_cum, e.maker_leaves, -aggressor,
                 "maker"))  # fmt: skip
    else:  # auction uncross: the "taker" slot holds the buyer
        legs = ((e.taker_order_id, e.taker_account, e.taker_cum, e.taker_leaves, 1, "auction"),
                (e.maker_order_id, e.maker_account, e.maker_cum, e.maker_leaves, -1,
                 "auction"))  # fmt: skip
    price, qty, ts = e.price, e.qty, e.ts
    out = []
    exec_id = 2 * e.seq
    for oid, acct, cum, leaves, side, liquidity in legs:
        st = tr._state(oid, acct, e.instrument, side, cum - qty, leaves + qty)
        st.cum_qty = cum
        st.leaves_qty = leaves
        st.order_qty = cum + leaves
        if st.cum_notional is not None:
            st.cum_notional += price * qty
        status = OrdStatus.FILLED if leaves == 0 else OrdStatus.PARTIALLY_FILLED
        st.ord_status = status
        st.ts = ts
        rep = _report(st, ExecType.TRADE, status, exec_id, ts, hops)
        rep["last_qty"] = qty
        rep["last_px"] = price
        rep["trade_id"] = e.trade_id
        rep["liquidity"] = liquidity
        out.append(rep)
        if leaves == 0:
            tr._forget(st)
        exec_id += 1
    return out


def _on_canceled(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    return tr._end(e, ExecType.CANCELED, OrdStatus.CANCELED, e.canceled_qty, hops, 2 * e.seq)


def _on_expired(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    return tr._end(e, ExecType.EXPIRED, OrdStatus.EXPIRED, e.expired_qty, hops, 2 * e.seq)


def _on_amended(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    st = tr.orders.get(e.order_id)
    if st is None:
        st = OrderState(e.order_id, e.account, e.instrument, e.client_order_id, 0, e.qty,
                        cum_qty=e.cum_qty, cum_notional=None)  # fmt: skip
        # side unknown: report it, adopt it at its next fill
    st.price = e.price
    st.order_qty = e.qty
    st.cum_qty = e.cum_qty
    st.leaves_qty = e.leaves_qty
    st.ord_status = _live_status(st)
    st.ts = e.ts
    rep = _report(st, ExecType.REPLACED, st.ord_status, 2 * e.seq, e.ts, hops)
    rep["kept_priority"] = bool(e.kept_priority)
    return [rep]


_DECREMENT = int(StpMode.DECREMENT)


def _on_self_trade(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    """DECREMENT shrinks both orders by ``qty`` (ExecType D Restated); the EXPIRE modes
    change nothing here, their ``OrderExpired`` events follow."""
    if e.mode != _DECREMENT:
        return []
    out = []
    exec_id = 2 * e.seq
    for oid in (e.taker_order_id, e.maker_order_id):
        st = tr.orders.get(oid)
        if st is not None:
            st.order_qty -= e.qty
            st.leaves_qty -= e.qty
            st.ord_status = _live_status(st)
            st.ts = e.ts
            rep = _report(st, ExecType.RESTATED, st.ord_status, exec_id, e.ts, hops)
            rep["end_reason"] = "self_trade"
            rep["text"] = f"self-trade prevented: quantity reduced by {e.qty}"
            out.append(rep)
        exec_id += 1
    return out


def _on_rejected(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    if type(e.account) is not int:
        return []  # cannot be routed; the gateway never sends such a command
    return [
        order_reject(
            e.account,
            e.reason,
            ts=e.ts,
            client_order_id=e.client_order_id,
            instrument=e.instrument,
            order_id=e.order_id,
            text=e.text,
            exec_id=2 * e.seq,
            hops=hops,
        )
    ]


def _on_cancel_rejected(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    if type(e.account) is not int:
        return []
    oid = e.order_id if type(e.order_id) is int else None
    st = tr.orders.get(oid) if oid is not None else None
    if st is not None and st.account != e.account:
        st = None  # never reveal another account's order
    return [
        cancel_reject(
            e.account,
            e.reason,
            response_to=e.response_to,
            ts=e.ts,
            order_id=oid,
            client_order_id=st.client_order_id if st is not None else None,
            instrument=e.instrument,
            ord_status=st.ord_status if st is not None else OrdStatus.REJECTED,
            text=e.text,
            hops=hops,
        )
    ]


def _on_mass_cancel_done(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    if type(e.account) is not int:
        return []
    msg = {
        "v": PROTOCOL_VERSION,
        "type": "mass_cancel_report",
        "account": e.account,
        "instrument": e.instrument,
        "canceled": e.canceled,
        "end_reason": END_REASON_NAMES.get(int(e.reason), "mass_cancel"),
        "ts": e.ts,
    }
    msg.update(zip(Hops._fields, hops))
    return [msg]


def _on_pre_trade_rejected(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    """Clearing's ``PreTradeRejected(ts, account, client_order_id, reason, required,
    available, text)`` without request context: reported as a refused new order. Use
    ``OrderTracker.reject_request`` when the request is at hand (an amend's refusal must be
    a cancel_reject). The order never reached the matcher, so ``ts_me_*`` stay 0."""
    if type(e.account) is not int:
        return []
    return [
        order_reject(
            e.account,
            e.reason,
            ts=e.ts,
            client_order_id=e.client_order_id,
            text=e.text,
            figures=clearing_figures(e.reason, e.required, e.available),
            hops=hops,
        )
    ]


_CLEARING_COMMANDS = {
    "OrderRequest": "new_order",
    "AmendRequest": "amend",
    "CancelRequest": "cancel",
    "MassCancelRequest": "mass_cancel",
}


def _on_request_rejected(tr: OrderTracker, e: Any, hops: Hops) -> list[dict]:
    """Clearing's ``RequestRejected(ts, account, command, reason, required, available,
    text)`` without request context: a cancel_reject for a cancel, else a ``reject``."""
    if type(e.account) is not int:
        return []
    figures = clearing_figures(e.reason, e.required, e.available)
    ref_type = _CLEARING_COMMANDS.get(e.command)
    if ref_type == "cancel":
        return [cancel_reject(e.account, e.reason, response_to="cancel", ts=e.ts, text=e.text,
                              figures=figures, hops=hops)]  # fmt: skip
    msg = reject_message(e.reason, ts=e.ts, ref_type=ref_type, text=e.text, figures=figures)
    msg["account"] = e.account
    return [msg]


_BUILTIN: dict[str, Handler] = {
    "OrderAccepted": _on_accepted,
    "Fill": _on_fill,
    "OrderCanceled": _on_canceled,
    "OrderExpired": _on_expired,
    "OrderAmended": _on_amended,
    "SelfTradePrevented": _on_self_trade,
    "OrderRejected": _on_rejected,
    "CancelRejected": _on_cancel_rejected,
    "MassCancelDone": _on_mass_cancel_done,
    "PreTradeRejected": _on_pre_trade_rejected,
    "RequestRejected": _on_request_rejected,
}


# -- reports the gateway builds itself ---------------------------------------------------
def _str_or_none(v: Any, limit: int = 64) -> str | None:
    return v if type(v) is str and 0 < len(v) <= limit else None


def order_reject(
    account: int,
    reason: int,
    *,
    ts: int,
    client_order_id: Any = "",
    instrument: Any = None,
    side: str | None = None,
    ord_type: str | None = None,
    tif: str | None = None,
    price: Any = None,
    order_qty: Any = None,
    order_id: Any = None,
    text: str | None = None,
    figures: dict[str, int | str] | None = None,
    exec_id: int = 0,
    hops: Hops = NO_HOPS,
    request: dict | None = None,
) -> dict:
    """An ExecType 8 / OrdStatus 8 report. ``request`` (a decoded ``new_order``) fills in
    whatever the caller left out; side/ord_type/tif are wire strings."""
    if request is not None:
        client_order_id = client_order_id or request.get("client_order_id", "")
        instrument = instrument or request.get("instrument")
        side = side or request.get("side")
        ord_type = ord_type or request.get("ord_type")
        tif = tif or request.get("tif")
        price = price if price is not None else request.get("price")
        order_qty = order_qty if order_qty is not None else request.get("qty")
    code, name, default_text = _reason(reason)
    return {
        "v": PROTOCOL_VERSION,
        "type": "exec_report",
        "account": account,
        "exec_id": exec_id,
        "exec_type": ExecType.REJECTED,
        "ord_status": OrdStatus.REJECTED,
        "order_id": order_id if type(order_id) is int and order_id >= 0 else None,
        "client_order_id": _str_or_none(client_order_id) or "",
        "instrument": _str_or_none(instrument),
        "side": side,
        "ord_type": ord_type,
        "tif": tif,
        "price": price if type(price) is int and price > 0 else None,
        "order_qty": order_qty if type(order_qty) is int and order_qty >= 0 else 0,
        "cum_qty": 0,
        "leaves_qty": 0,
        "avg_px": "0",
        "cum_notional": 0,
        "reason": code,
        "reason_name": name,
        "ord_rej_reason": ord_rej_reason(code),
        "text": (text if type(text) is str and text else default_text)[:256],
        "figures": figures,
        "ts": ts,
        **dict(zip(Hops._fields, hops)),
        "ts_gw_out": 0,
    }


def cancel_reject(
    account: int,
    reason: int,
    *,
    response_to: int | str,
    ts: int,
    order_id: int | None = None,
    client_order_id: str | None = None,
    instrument: Any = None,
    ord_status: str = OrdStatus.REJECTED,
    text: str | None = None,
    figures: dict[str, int | str] | None = None,
    hops: Hops = NO_HOPS,
) -> dict:
    """An OrderCancelReject. ``response_to``: ``CxlRejResponseTo`` (1/2) or "cancel"/"amend";
    ``ord_status`` is the order's status now (FIX: Rejected when the order is unknown)."""
    if response_to in ("cancel", "amend"):
        rt = response_to
    else:
        rt = "amend" if response_to == CxlRejResponseTo.AMEND else "cancel"
    code, name, default_text = _reason(reason)
    msg = {
        "v": PROTOCOL_VERSION,
        "type": "cancel_reject",
        "account": account,
        "order_id": order_id,
        "client_order_id": client_order_id,
        "instrument": _str_or_none(instrument),
        "response_to": rt,
        "ord_status": ord_status,
        "cxl_rej_reason": cxl_rej_reason(code),
        "reason": code,
        "reason_name": name,
        "text": (text if type(text) is str and text else default_text)[:256],
        "figures": figures,
        "ts": ts,
    }
    msg.update(zip(Hops._fields, hops))
    return msg


def reject_message(
    reason: int,
    *,
    ts: int,
    req_id: int | None = None,
    ref_type: str | None = None,
    text: str | None = None,
    figures: dict[str, int | str] | None = None,
    field: str | None = None,
) -> dict:
    """A ``reject``: a refused request that is not an order event (rate limited, not logged
    on, a clearing refusal of a non-order request, ...)."""
    code, name, default_text = _reason(reason)
    return {
        "v": PROTOCOL_VERSION,
        "type": "reject",
        "req_id": req_id,
        "ref_type": ref_type,
        "reason": code,
        "reason_name": name,
        "text": (text if type(text) is str and text else default_text)[:256],
        "figures": figures,
        "field": field,
        "ts": ts,
    }

"""Execution reports in compact form: the matcher's events -> one tuple per report.

The core builds every report exactly once, here, as a plain tuple (msgpack-ready, no
dict, no names); the gateway renders each into the wire dict once
(``gateway.render``). Rules (the FIX 4.4 mapping is in docs/protocol.md):

1. The order's state lives in clearing's ``Order`` (``clearing.orders``), the one
   server-side record of a working order. ``ReportBuilder.event`` runs on a round of
   matcher events *before* clearing settles them (settlement forgets finished orders), and
   keeps the report fields of each ``Order`` (type, time in force, ``cum_notional``,
   ``ts``). Within a round, clearing's ``cum``/``leaves``/``price`` lag the events, so the
   builder keeps what this round changed in ``live`` (cleared by ``end_round``). An order
   clearing does not know (it never should) is reported from the event alone.
2. One report per order per event: a ``Fill`` gives two, taker's then maker's (an auction
   uncross: buyer's then seller's, liquidity ``auction``). ``exec_id`` is ``2 * seq`` of the
   matcher event (``+ 1`` for the second report of the same event): unique, increasing,
   identical on replay; refusals that never reached the matcher use 0.
3. While an order lives, ``order_qty == cum_qty + leaves_qty``; a terminal report has
   ``leaves_qty == 0``.
4. Layouts (``kind`` first; ``gateway.render`` names the fields):

   - ``EXEC``: ``(EXEC, account, exec_id, exec_type, ord_status, order_id, client_order_id,
     instrument, side, ord_type, tif, price, order_qty, cum_qty, leaves_qty, cum_notional,
     ts, extra)``; ``extra`` by exec type: trade ``(last_qty, last_px, trade_id,
     liquidity)``, canceled/expired ``(end_reason,)``, replaced ``(kept_priority,)``,
     restated ``(end_reason, text)``, rejected ``(reason, text, figures)``, new ``None``.
     ``figures`` is None, a dict of named figures, or a clearing refusal's ``(required,
     available)`` pair.
   - ``CANCEL_REJECT``: ``(CANCEL_REJECT, account, order_id, client_order_id, instrument,
     response_to, ord_status, reason, text, figures, ts)``.
   - ``MASS_CANCEL``: ``(MASS_CANCEL, account, instrument, canceled, end_reason, ts)``.
   - ``REJECT``: ``(REJECT, account, reason, ref_type, text, figures, ts)``.
   - ``NOTICE``: ``(NOTICE, account, type, fields, ts)``: margin calls and liquidation
     notices (rare; ``fields`` is a small dict of the wire fields).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matching import events as mev
from matching.enums import CxlRejResponseTo, EndReason, StpMode

if TYPE_CHECKING:
    from clearing.core.history import History
    from clearing.engine import ClearingEngine

EXEC = 0
CANCEL_REJECT = 1
MASS_CANCEL = 2
REJECT = 3
NOTICE = 4

# FIX 4.4 ExecType (150) and OrdStatus (39) codes
X_NEW = "0"
X_CANCELED = "4"
X_REPLACED = "5"
X_REJECTED = "8"
X_EXPIRED = "C"
X_RESTATED = "D"
X_TRADE = "F"
S_NEW = "0"
S_PARTIAL = "1"
S_FILLED = "2"
S_CANCELED = "4"
S_REJECTED = "8"
S_EXPIRED = "C"

_DECREMENT = int(StpMode.DECREMENT)
_SELF_TRADE = int(EndReason.SELF_TRADE)
_AMEND = int(CxlRejResponseTo.AMEND)


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def _wire(value: int) -> int | str:
    """An int within int64, else its decimal string: a price and a quantity the protocol
    allows can make a margin figure no msgpack int holds (docs/protocol.md, figures)."""
    return value if _I64_MIN <= value <= _I64_MAX else str(value)


def clearing_figures(required: Any, available: Any) -> tuple[int | str, int | str] | None:
    """The ``figures`` of a clearing refusal, ``(required, available)`` (the gateway names
    them per reason); None when it carries no numbers (both 0). A figure outside int64 is
    its decimal string."""
    if type(required) is not int or type(available) is not int:
        return None
    if required == 0 and available == 0:
        return None
    return (_wire(required), _wire(available))


class ReportBuilder:
    """Turns a round of matcher events into compact reports, keeping order state.

    ``sink(origin_index, account, report, direct)`` receives each report; the caller
    knows where each command came from and routes the answer (``clearing.core.core``).
    """

    __slots__ = ("engine", "history", "live", "trades")

    def __init__(self, engine: ClearingEngine, history: History) -> None:
        self.engine = engine
        self.history = history
        self.trades: dict[tuple[int, int, int], tuple] = {}
        """Trade records waiting for their fee (set once clearing settles the fill)."""
        self.live: dict[int, tuple[int, int, int]] = {}
        """``order_id -> [cum, leaves, price]`` as this round's events left them."""

    def _now(self, o: Any) -> tuple[int, int, int]:
        """``(cum, leaves, price)`` of a working order as of the events seen so far."""
        v = self.live.get(o.order_id)
        return v if v is not None else (o.cum, o.leaves, o.price)

    def end_round(self) -> None:
        """Clearing has settled this round: its figures are current again."""
        self.live.clear()

    # -- the matcher's events ---------------------------------------------------------
    def event(self, e: Any, out: list) -> None:
        """Append ``(account, report, direct)`` for each report ``e`` causes."""
        handler = HANDLERS.get(type(e))
        if handler is not None:  # LevelChanged and the like cause no report
            handler(self, e, out)

    def _canceled(self, e: mev.OrderCanceled, out: list) -> None:
        self._end(e, X_CANCELED, S_CANCELED, e.canceled_qty, out)

    def _expired(self, e: mev.OrderExpired, out: list) -> None:
        self._end(e, X_EXPIRED, S_EXPIRED, e.expired_qty, out)

    def _mass_cancel_done(self, e: mev.MassCancelDone, out: list) -> None:
        if type(e.account) is int:
            out.append((e.account, (MASS_CANCEL, e.account, e.instrument, e.canceled,
                                    int(e.reason), e.ts), False))  # fmt: skip

    def _self_trade(self, e: mev.SelfTradePrevented, out: list) -> None:
        if e.mode == _DECREMENT:
            self._decrement(e, out)

    def _accepted(self, e: mev.OrderAccepted, out: list) -> None:
        oid, ord_type, tif, ts, account, qty = e.order_id, e.ord_type, e.tif, e.ts, e.account, e.qty
        o = self.engine.orders.get(oid)
        if o is not None:
            o.ord_type = ord_type
            o.tif = tif
            o.post_only = e.post_only
            o.stp = e.stp
            o.expire_ts = e.expire_ts
            o.ts = ts
        out.append((account, (EXEC, account, 2 * e.seq, X_NEW, S_NEW, oid, e.client_order_id,
                              e.instrument, e.side, ord_type, tif, e.price, qty, 0, qty, 0, ts,
                              None), False))  # fmt: skip

    def _fill(self, e: mev.Fill, out: list) -> None:
        orders = self.engine.orders
        live = self.live
        trades = self.trades
        price, qty, ts, sym, seq, trade_id = e.price, e.qty, e.ts, e.instrument, e.seq, e.trade_id
        notional_add = price * qty
        aggressor = e.aggressor
        exec_id = 2 * seq
        if aggressor:
            liq_t, liq_m, side_t = "taker", "maker", aggressor
        else:  # auction uncross: the taker slot holds the buyer
            liq_t, liq_m, side_t = "auction", "auction", 1
        # the taker's report, then the maker's (the same steps, written out twice)
        oid, acct, cum, leaves = e.taker_order_id, e.taker_account, e.taker_cum, e.taker_leaves
        o = orders.get(oid)
        if o is not None:
            o.cum_notional = notional = o.cum_notional + notional_add
            o.ts = ts
            v = live.get(oid)
            lim = o.price if v is None else v[2]
            live[oid] = (cum, leaves, lim)
            clid, ord_type, tif = o.client_order_id, o.ord_type, o.tif
        else:
            clid, ord_type, tif, lim, notional = "", None, None, None, None
        rep = (EXEC, acct, exec_id, X_TRADE, S_FILLED if leaves == 0 else S_PARTIAL, oid, clid,
               sym, side_t, ord_type, tif, lim, cum + leaves, cum, leaves, notional, ts,
               (qty, price, trade_id, liq_t))  # fmt: skip
        out.append((acct, rep, False))
        trades[(seq, acct, side_t)] = (trade_id, oid, clid, sym, side_t, price, qty, liq_t, 0, ts)
        if leaves == 0:
            self.history.finished(acct, rep)
        side_m = -side_t
        oid, acct, cum, leaves = e.maker_order_id, e.maker_account, e.maker_cum, e.maker_leaves
        o = orders.get(oid)
        if o is not None:
            o.cum_notional = notional = o.cum_notional + notional_add
            o.ts = ts
            v = live.get(oid)
            lim = o.price if v is None else v[2]
            live[oid] = (cum, leaves, lim)
            clid, ord_type, tif = o.client_order_id, o.ord_type, o.tif
        else:
            clid, ord_type, tif, lim, notional = "", None, None, None, None
        rep = (EXEC, acct, exec_id + 1, X_TRADE, S_FILLED if leaves == 0 else S_PARTIAL, oid,
               clid, sym, side_m, ord_type, tif, lim, cum + leaves, cum, leaves, notional, ts,
               (qty, price, trade_id, liq_m))  # fmt: skip
        out.append((acct, rep, False))
        trades[(seq, acct, side_m)] = (trade_id, oid, clid, sym, side_m, price, qty, liq_m, 0, ts)
        if leaves == 0:
            self.history.finished(acct, rep)

    def _end(self, e: Any, exec_type: str, status: str, gone: int, out: list) -> None:
        o = self.engine.orders.get(e.order_id)
        if o is not None:
            price = self._now(o)[2]
            self.live[e.order_id] = (e.cum_qty, 0, price)
            rep = (EXEC, e.account, 2 * e.seq, exec_type, status, e.order_id,
                   o.client_order_id, e.instrument, o.side, o.ord_type, o.tif, price,
                   e.cum_qty + gone, e.cum_qty, 0, o.cum_notional, e.ts,
                   (int(e.reason),))  # fmt: skip
        else:
            rep = (EXEC, e.account, 2 * e.seq, exec_type, status, e.order_id,
                   e.client_order_id, e.instrument, None, None, None, None,
                   e.cum_qty + gone, e.cum_qty, 0, None, e.ts, (int(e.reason),))  # fmt: skip
        out.append((e.account, rep, False))
        if o is not None:
            self.history.finished(e.account, rep)

    def _amended(self, e: mev.OrderAmended, out: list) -> None:
        o = self.engine.orders.get(e.order_id)
        status = S_NEW if e.cum_qty == 0 else S_PARTIAL
        if o is not None:
            o.ts = e.ts
            self.live[e.order_id] = (e.cum_qty, e.leaves_qty, e.price)
            side, ord_type, tif, notional = o.side, o.ord_type, o.tif, o.cum_notional
        else:
            side, ord_type, tif, notional = None, None, None, None
        out.append((e.account, (EXEC, e.account, 2 * e.seq, X_REPLACED, status, e.order_id,
                                e.client_order_id, e.instrument, side, ord_type, tif, e.price,
                                e.qty, e.cum_qty, e.leaves_qty, notional, e.ts,
                                (bool(e.kept_priority),)), False))  # fmt: skip

    def _decrement(self, e: mev.SelfTradePrevented, out: list) -> None:
        """DECREMENT shrinks both orders by ``qty`` (ExecType D, Restated)."""
        orders = self.engine.orders
        exec_id = 2 * e.seq
        text = f"self-trade prevented: quantity reduced by {e.qty}"
        for oid in (e.taker_order_id, e.maker_order_id):
            o = orders.get(oid)
            if o is not None:
                o.ts = e.ts
                cum, leaves, price = self._now(o)
                leaves = max(leaves - e.qty, 0)
                self.live[oid] = (cum, leaves, price)
                status = S_NEW if cum == 0 else S_PARTIAL
                out.append((o.account, (EXEC, o.account, exec_id, X_RESTATED, status, oid,
                                        o.client_order_id, o.symbol, o.side, o.ord_type,
                                        o.tif, price, cum + leaves, cum, leaves,
                                        o.cum_notional, e.ts, (_SELF_TRADE, text)),
                            False))  # fmt: skip
            exec_id += 1

    def _rejected(self, e: mev.OrderRejected, out: list) -> None:
        if type(e.account) is not int:
            return  # cannot be routed; the core never sends such a command
        o = self.engine.orders.get(e.order_id) if type(e.order_id) is int else None
        side = o.side if o is not None else None
        price = o.price if o is not None else None
        qty = o.qty if o is not None else 0
        out.append((e.account, (EXEC, e.account, 2 * e.seq, X_REJECTED, S_REJECTED,
                                e.order_id, e.client_order_id, e.instrument, side, None, None,
                                price, qty, 0, 0, 0, e.ts, (int(e.reason), e.text, None)),
                    False))  # fmt: skip

    def _cancel_rejected(self, e: mev.CancelRejected, out: list) -> None:
        if type(e.account) is not int:
            return
        oid = e.order_id if type(e.order_id) is int else None
        o = self.engine.orders.get(oid) if oid is not None else None
        if o is not None and o.account != e.account:
            o = None  # never reveal another account's order
        rt = "amend" if e.response_to == _AMEND else "cancel"
        status = (S_NEW if self._now(o)[0] == 0 else S_PARTIAL) if o is not None else S_REJECTED
        out.append((e.account, (CANCEL_REJECT, e.account, oid,
                                o.client_order_id if o is not None else None, e.instrument, rt,
                                status, int(e.reason), e.text, None, e.ts), True))  # fmt: skip

    # -- after settlement -------------------------------------------------------------
    def settled(self, seq: int, account: int, side: int, fee: int) -> None:
        """Clearing settled one side of fill ``seq``: its trade record gets its fee."""
        rec = self.trades.pop((seq, account, side), None)
        if rec is not None:
            trade_id, oid, clid, sym, side, price, qty, liquidity, _, ts = rec
            rec = (trade_id, oid, clid, sym, side, price, qty, liquidity, fee, ts)
            kept = self.history.trades.get(account)
            if kept is None:
                self.history.trade(account, rec)
            else:  # History.trade, in line
                kept.append(rec)

    def flush_trades(self) -> None:
        """Trade records clearing did not settle (it always should) are kept without fee."""
        for (_, account, _), rec in self.trades.items():
            self.history.trade(account, rec)
        self.trades.clear()


HANDLERS: dict[type, Any] = {
    mev.Fill: ReportBuilder._fill,
    mev.OrderAccepted: ReportBuilder._accepted,
    mev.OrderCanceled: ReportBuilder._canceled,
    mev.OrderExpired: ReportBuilder._expired,
    mev.OrderAmended: ReportBuilder._amended,
    mev.OrderRejected: ReportBuilder._rejected,
    mev.CancelRejected: ReportBuilder._cancel_rejected,
    mev.MassCancelDone: ReportBuilder._mass_cancel_done,
    mev.SelfTradePrevented: ReportBuilder._self_trade,
}
"""The report each matcher event type causes: ``HANDLERS[type(e)](builder, e, out)`` is
``builder.event(e, out)`` (the core calls it so, once per event)."""


def order_refused(inp: Any, reason: int, text: str, figures: dict | None) -> tuple:
    """The compact ExecType 8 report refusing a ``PlaceOrder`` before the matcher saw it."""
    return (EXEC, inp.account, 0, X_REJECTED, S_REJECTED, None, inp.client_order_id,
            inp.instrument, inp.side, inp.ord_type, inp.tif, inp.price, inp.qty, 0, 0, 0,
            inp.ts, (reason, text, figures))  # fmt: skip


def cancel_refused(inp: Any, kind: str, reason: int, text: str, figures: dict | None,
                   ts: int, order: Any = None) -> tuple:  # fmt: skip
    """The compact cancel reject answering a cancel or amend request (``kind``)."""
    if order is not None and order.account != inp.account:
        order = None  # never reveal another account's order
    if order is not None:
        oid, clid, sym = order.order_id, order.client_order_id, order.symbol
        status = S_NEW if order.cum == 0 else S_PARTIAL
    else:
        oid, clid, sym, status = inp.order_id, inp.client_order_id, inp.instrument, S_REJECTED
    return (CANCEL_REJECT, inp.account, oid, clid, sym, kind, status, reason, text, figures,
            ts)  # fmt: skip


def request_refused(account: int, reason: int, ref_type: str | None, text: str,
                    figures: dict | None, ts: int) -> tuple:  # fmt: skip
    """A compact ``reject`` (a refusal that is not about one order)."""
    return (REJECT, account, reason, ref_type, text, figures, ts)

"""Compact reports -> wire messages: the one place a report becomes a protocol dict.

The core builds each report once as a tuple (``clearing.core.reports`` documents the
layouts); the gateway renders it here, once, just before encoding it for a session. The
result is exactly the message ``docs/protocol.md`` describes (FIX 4.4 names and codes,
``avg_px`` as an exact decimal string, reason names, the hop timestamps). Pure: no clock,
no I/O; ``hops`` are ``(ts_gw_in, ts_clr_in, ts_clr_out, ts_me_in, ts_me_out)``.
"""

from __future__ import annotations

from typing import Any

from clearing.core import reports as rp
from gateway.protocol import (
    END_REASON_NAMES,
    ORD_TYPE_NAMES,
    PROTOCOL_VERSION,
    SIDE_NAMES,
    STP_NAMES,
    TIF_NAMES,
    decimal_ratio,
)
from gateway.reports import (
    NO_HOPS,
    Hops,
    cancel_reject,
    clearing_figures,
    order_reject,
    reject_message,
)
from gateway.roles.views import margin_ratio_ppm

_V = PROTOCOL_VERSION
_SIDE = SIDE_NAMES.get
_ORD_TYPE = ORD_TYPE_NAMES.get
_TIF = TIF_NAMES.get
_END = END_REASON_NAMES.get
_STP = STP_NAMES.get


def figures(reason: int, value: Any) -> dict | None:
    """Wire ``figures``: a clearing refusal's ``(required, available)`` gets the names its
    reason calls for; a dict passes as it is."""
    if value is None or isinstance(value, dict):
        return value
    return clearing_figures(reason, value[0], value[1])


def render(report: tuple | list, hops: tuple = NO_HOPS) -> dict:
    """The wire message of one compact report (see ``clearing.core.reports``)."""
    kind = report[0]
    if kind == rp.EXEC:
        return _exec(report, hops)
    if kind == rp.CANCEL_REJECT:
        (_, account, order_id, clid, instrument, response_to, ord_status, reason, text, figs,
         ts) = report  # fmt: skip
        return cancel_reject(account, reason, response_to=response_to, ts=ts,
                             order_id=order_id, client_order_id=clid, instrument=instrument,
                             ord_status=ord_status, text=text, figures=figures(reason, figs),
                             hops=Hops(*hops))  # fmt: skip
    if kind == rp.MASS_CANCEL:
        _, account, instrument, canceled, end_reason, ts = report
        msg = {"v": _V, "type": "mass_cancel_report", "account": account,
               "instrument": instrument, "canceled": canceled,
               "end_reason": _END(end_reason, "mass_cancel"), "ts": ts}  # fmt: skip
        msg.update(zip(Hops._fields, hops))
        return msg
    if kind == rp.REJECT:
        _, account, reason, ref_type, text, figs, ts = report
        msg = reject_message(reason, ts=ts, ref_type=ref_type, text=text,
                             figures=figures(reason, figs))  # fmt: skip
        msg["account"] = account
        return msg
    if kind == rp.NOTICE:
        _, account, mtype, fields, ts = report
        msg = {"v": _V, "type": mtype, "account": account}
        msg.update(fields)
        if mtype == "margin_call":
            msg["margin_ratio_ppm"] = margin_ratio_ppm(fields["maintenance_margin"],
                                                       fields["equity"])  # fmt: skip
        msg["ts"] = ts
        return msg
    raise ValueError(f"unknown report kind {kind!r}")


def _exec(r: tuple | list, hops: tuple) -> dict:
    (_, account, exec_id, exec_type, ord_status, order_id, clid, instrument, side, ord_type,
     tif, price, order_qty, cum_qty, leaves_qty, notional, ts, extra) = r  # fmt: skip
    if exec_type == rp.X_REJECTED:
        reason, text, figs = extra
        return order_reject(account, reason, ts=ts, client_order_id=clid,
                            instrument=instrument, side=_SIDE(side), ord_type=_ORD_TYPE(ord_type),
                            tif=_TIF(tif), price=price, order_qty=order_qty, order_id=order_id,
                            text=text, figures=figures(reason, figs), exec_id=exec_id,
                            hops=Hops(*hops))  # fmt: skip
    msg = {
        "v": _V,
        "type": "exec_report",
        "account": account,
        "exec_id": exec_id,
        "exec_type": exec_type,
        "ord_status": ord_status,
        "order_id": order_id,
        "client_order_id": clid,
        "instrument": instrument,
        "side": _SIDE(side),
        "ord_type": _ORD_TYPE(ord_type),
        "tif": _TIF(tif),
        "price": price,
        "order_qty": order_qty,
        "cum_qty": cum_qty,
        "leaves_qty": leaves_qty,
        "avg_px": None if notional is None else decimal_ratio(notional, cum_qty),
        "cum_notional": notional,
        "ts": ts,
        "ts_gw_in": hops[0],
        "ts_clr_in": hops[1],
        "ts_clr_out": hops[2],
        "ts_me_in": hops[3],
        "ts_me_out": hops[4],
        "ts_gw_out": 0,
    }
    if exec_type == rp.X_TRADE:
        msg["last_qty"], msg["last_px"], msg["trade_id"], msg["liquidity"] = extra
    elif exec_type == rp.X_CANCELED or exec_type == rp.X_EXPIRED:
        msg["end_reason"] = _END(extra[0])
    elif exec_type == rp.X_REPLACED:
        msg["kept_priority"] = bool(extra[0])
    elif exec_type == rp.X_RESTATED:
        msg["end_reason"] = _END(extra[0])
        msg["text"] = extra[1]
    return msg


def trade_record(rec: list | tuple, fee_asset: str) -> dict:
    """A ``trades`` query item from a history trade record (``clearing.core.history``)."""
    trade_id, order_id, clid, instrument, side, price, qty, liquidity, fee, ts = rec
    return {"trade_id": trade_id, "order_id": order_id, "client_order_id": clid,
            "instrument": instrument, "side": _SIDE(side), "price": price, "qty": qty,
            "liquidity": liquidity, "fee": fee, "fee_asset": fee_asset, "ts": ts}  # fmt: skip


def order_record(order: Any) -> dict:
    """An ``orders`` query item for a working order (clearing's ``Order``)."""
    n = order.cum_notional
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "instrument": order.symbol,
        "side": _SIDE(order.side),
        "ord_type": _ORD_TYPE(order.ord_type, "limit"),
        "tif": _TIF(order.tif, "gtc"),
        "price": order.price,
        "order_qty": order.qty,
        "cum_qty": order.cum,
        "leaves_qty": order.leaves,
        "avg_px": decimal_ratio(n, order.cum),
        "ord_status": "0" if order.cum == 0 else "1",
        "post_only": order.post_only,
        "reduce_only": order.reduce_only,
        "stp": _STP(order.stp, "none"),
        "expire_ts": order.expire_ts,
        "ts": order.ts,
    }


def finished_record(report: tuple | list) -> dict:
    """An ``orders`` query item for a finished order (its terminal compact report)."""
    (_, _, _, _, ord_status, order_id, clid, instrument, side, ord_type, tif, price,
     order_qty, cum_qty, _, notional, ts, _) = report  # fmt: skip
    return {"order_id": order_id, "client_order_id": clid, "instrument": instrument,
            "side": _SIDE(side), "ord_type": _ORD_TYPE(ord_type, "limit"),
            "tif": _TIF(tif, "gtc"), "price": price, "order_qty": order_qty,
            "cum_qty": cum_qty, "leaves_qty": 0,
            "avg_px": None if notional is None else decimal_ratio(notional, cum_qty),
            "ord_status": ord_status, "ts": ts}  # fmt: skip


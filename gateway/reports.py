"""Wire builders for refusals, the FIX reason maps, and the hop timestamps' names.

Execution reports are built once by the core as compact tuples (``clearing.core.reports``)
and rendered into wire messages by ``gateway.render``; this module holds what that
rendering and the gateway's own refusals share (mapping table in ``docs/protocol.md``):

1. ``order_reject`` (ExecType 8 / OrdStatus 8), ``cancel_reject`` (OrderCancelReject) and
   ``reject_message`` (a refused request that is not about one order) build complete wire
   dicts: reason code and name, default text, ``figures``, hop timestamps. A reason code
   this build does not know keeps its number (``reason_name`` "UNKNOWN_REASON").
2. ``ord_rej_reason`` / ``cxl_rej_reason`` map a ``Reason`` to FIX OrdRejReason (103) and
   CxlRejReason (102).
3. ``clearing_figures`` names a clearing refusal's ``(required, available)`` as its reason
   calls for; a figure outside int64 travels as its decimal string (``wire_figure``).
4. ``Hops`` names the hop timestamps of the command behind a report (the wire names less
   ``ts_gw_out``, which the gateway sets as it sends). Pure: no clock, no I/O.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gateway.protocol import PROTOCOL_VERSION, ExecType, OrdStatus
from gateway.reasons import Reason
from matching.enums import CxlRejResponseTo


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
) -> dict:
    """An ExecType 8 / OrdStatus 8 report; side/ord_type/tif are wire strings."""
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

"""The wire builders and FIX reason maps of gateway/reports.py (what ``gateway.render`` and
the gateway's own refusals share). Execution reports as the core produces them are tested
through ``gateway.render`` in test_render.py."""

from __future__ import annotations

from gateway import protocol as P
from gateway.reasons import Reason
from gateway.reports import (
    Hops,
    cancel_reject,
    clearing_figures,
    cxl_rej_reason,
    ord_rej_reason,
    order_reject,
    reject_message,
)
from gateway.schemas import HOP_FIELDS


def test_gateway_built_rejects_are_valid() -> None:
    rep = order_reject(9, Reason.RATE_LIMITED, ts=3, client_order_id="g1", instrument="X",
                       side="sell", ord_type="limit", tif="ioc", price=100, order_qty=7,
                       figures={"retry_after_ms": 20}, hops=Hops(1, 2, 3, 0, 0))  # fmt: skip
    assert (rep["side"], rep["order_qty"], rep["tif"], rep["ord_rej_reason"]) == (
        "sell", 7, "ioc", 99)  # fmt: skip
    assert (rep["exec_id"], rep["order_id"], rep["ts_clr_out"], rep["ts_me_in"]) == (0, None, 3, 0)
    rej = cancel_reject(9, Reason.UNKNOWN_ORDER, response_to=2, ts=3, order_id=77)
    assert rej["response_to"] == "amend" and rej["cxl_rej_reason"] == 1
    assert rej["ord_status"] == "8" and rej["text"] == Reason.UNKNOWN_ORDER.text
    msg = reject_message(Reason.NOT_LOGGED_ON, ts=3, req_id=1, ref_type="new_order")
    assert (msg["reason_name"], msg["req_id"], msg["ref_type"]) == (
        "NOT_LOGGED_ON", 1, "new_order")  # fmt: skip
    unknown = order_reject(9, 2999, ts=3)  # a code newer than this build still travels
    assert (unknown["reason"], unknown["reason_name"]) == (2999, "UNKNOWN_REASON")
    for m in (rep, rej, msg, unknown):
        assert isinstance(P.decode_push(P.encode(m)), dict)


def test_fix_reason_maps() -> None:
    """OrdRejReason (103) and CxlRejReason (102), docs/protocol.md section 8."""
    for reason, fix in (
        (Reason.UNKNOWN_INSTRUMENT, 1), (Reason.UNKNOWN_CLEARING_INSTRUMENT, 1),
        (Reason.INSTRUMENT_HALTED, 2), (Reason.MARKET_HALTED, 2),
        (Reason.INSUFFICIENT_MARGIN, 3), (Reason.QUANTITY_TOO_LARGE, 3),
        (Reason.PRICE_OUTSIDE_STATIC_BAND, 3), (Reason.TOO_MANY_OPEN_ORDERS, 3),
        (Reason.DUPLICATE_CLIENT_ORDER_ID, 6), (Reason.POST_ONLY_WOULD_TAKE, 11),
        (Reason.INVALID_QUANTITY, 13), (Reason.OFF_LOT_QUANTITY, 13),
        (Reason.ACCOUNT_IN_LIQUIDATION, 15), (Reason.MALFORMED_MESSAGE, 99),
        (Reason.OFF_TICK_PRICE, 99), (Reason.INVALID_PRICE, 99),
    ):  # fmt: skip
        assert ord_rej_reason(reason) == fix, reason
    assert cxl_rej_reason(Reason.UNKNOWN_ORDER) == 1
    assert cxl_rej_reason(Reason.UNKNOWN_CLEARING_ORDER) == 1
    assert cxl_rej_reason(Reason.DUPLICATE_CLIENT_ORDER_ID) == 6
    assert cxl_rej_reason(Reason.INSTRUMENT_HALTED) == 99
    assert cxl_rej_reason(Reason.NOT_ORDER_OWNER) == 99


def test_clearing_figures_outside_int64_travel_as_strings() -> None:
    big = 900719925474099000000
    figs = clearing_figures(int(Reason.INSUFFICIENT_MARGIN), big, 10**15)
    assert figs == {"required": str(big), "available": 10**15}
    assert clearing_figures(int(Reason.INSUFFICIENT_MARGIN), 0, 0) is None
    rep = order_reject(1, Reason.INSUFFICIENT_MARGIN, ts=1, figures=figs)
    assert isinstance(P.decode_push(P.encode(rep)), dict)


def test_hops_fields_are_the_wire_hop_names() -> None:
    assert (*Hops._fields, "ts_gw_out") == HOP_FIELDS

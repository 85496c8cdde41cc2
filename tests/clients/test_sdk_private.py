"""The SDK's sans-I/O private state: which answer completes which request, and how reports
update the order cache (decoded messages in, no sockets)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from clients.sdk import errors as E
from clients.sdk.markets import Market
from clients.sdk.private import PrivateState
from gateway.protocol import decode_push, encode

BTC = Market.from_record({
    "symbol": "BTC-PERP", "tick_size": 5, "lot_size": 1, "min_qty": 1, "max_qty": 10**6,
    "price_decimals": 1, "qty_decimals": 3,
})  # fmt: skip


def wire(msg: dict[str, Any]) -> dict[str, Any]:
    """Through the real codec, so defaults are filled in as the session delivers them."""
    out = decode_push(encode({"v": 1, **msg}))
    assert isinstance(out, dict), out
    return out


def report(exec_type: str, status: str, **kw: Any) -> dict[str, Any]:
    base = {
        "type": "exec_report", "account": 1, "exec_id": 2, "exec_type": exec_type,
        "ord_status": status, "order_id": 7, "client_order_id": "c1", "instrument": "BTC-PERP",
        "side": "buy", "ord_type": "limit", "tif": "gtc", "price": 600000, "order_qty": 10,
        "cum_qty": 0, "leaves_qty": 10, "avg_px": "0", "cum_notional": 0, "ts": 5,
        "ts_gw_in": 0, "ts_clr_in": 0, "ts_clr_out": 0, "ts_me_in": 0, "ts_me_out": 0,
        "ts_gw_out": 0,
    }  # fmt: skip
    base.update(kw)
    return wire(base)


@pytest.fixture
def st() -> PrivateState:
    return PrivateState({"BTC-PERP": BTC}, {"USD": 6})


async def test_new_order_completes_on_new_and_keeps_known_fields(st: PrivateState) -> None:
    w = st.waiter("new", 1, clid="c1")
    st.on_message(report("0", "0", req_id=None))
    assert await w.future == 7 and not st.by_req and not st.by_clid
    # a later report without ord_type/tif (nil after decoding) does not erase them
    st.on_message(report("F", "1", ord_type=None, tif=None, cum_qty=4, leaves_qty=6,
                         last_qty=4, last_px=600000, trade_id=3, liquidity="maker",
                         avg_px="600000", cum_notional=2400000))  # fmt: skip
    o = st.order_record(7)
    assert (o.type, o.timeInForce, o.filled, o.status) == ("limit", "GTC", Decimal("0.004"), "open")
    assert [t.amount for t in st.my_trades_stream.items] == [Decimal("0.004")]
    assert st.live_clid == {"c1": 7}


async def test_ioc_waits_for_its_terminal_report(st: PrivateState) -> None:
    w = st.waiter("new", 1, clid="c1", until_done=True)
    st.on_message(report("0", "0", tif="ioc"))
    assert not w.future.done()
    st.on_message(report("C", "C", tif="ioc", leaves_qty=0, end_reason="ioc_remainder"))
    assert await w.future == 7 and st.order_record(7).status == "expired"
    assert st.live_clid == {}


@pytest.mark.parametrize("order_id", [None, 9])
async def test_a_rejected_report_raises_the_mapped_error(st: PrivateState,
                                                         order_id: int | None) -> None:  # fmt: skip
    w = st.waiter("new", 1, clid="c1")
    st.on_message(report("8", "8", order_id=order_id, reason=2001,
                         reason_name="INSUFFICIENT_MARGIN", text="insufficient margin",
                         figures={"required": 5, "available": 1}, leaves_qty=0))  # fmt: skip
    with pytest.raises(E.InsufficientFunds) as ei:
        await w.future
    assert ei.value.figures == {"required": 5, "available": 1}


async def test_duplicate_reject_leaves_the_live_order_alone(st: PrivateState) -> None:
    st.on_message(report("0", "0"))
    w = st.waiter("new", 2, clid="c1")
    st.on_message(wire({"type": "reject", "req_id": 2, "ref_type": "new_order", "reason": 1011,
                        "reason_name": "DUPLICATE_REQUEST", "text": "dup", "ts": 0}))  # fmt: skip
    with pytest.raises(E.DuplicateOrderId):
        await w.future
    assert st.order_record(7).status == "open" and st.live_clid == {"c1": 7}


async def test_cancel_amend_and_their_refusals(st: PrivateState) -> None:
    st.on_message(report("0", "0"))
    amend = st.waiter("amend", 2, order_id=7)
    cancel = st.waiter("cancel", 3, order_id=7)
    st.on_message(report("5", "0", price=600005, kept_priority=False))
    assert await amend.future == 7 and not cancel.future.done()
    st.on_message(wire({"type": "cancel_reject", "req_id": 3, "account": 1, "order_id": 7,
                        "client_order_id": "c1", "instrument": "BTC-PERP",
                        "response_to": "cancel", "ord_status": "0", "cxl_rej_reason": 99,
                        "reason": 3015, "reason_name": "NOT_ORDER_OWNER", "text": "no",
                        "ts": 0}))  # fmt: skip
    with pytest.raises(E.OrderNotFound):
        await cancel.future
    again = st.waiter("cancel", 4, order_id=7)
    st.on_message(report("4", "4", price=600005, leaves_qty=0, end_reason="user_cancel"))
    assert await again.future == 7 and st.order_record(7).price == Decimal("60000.5")


async def test_mass_cancel_collects_its_orders_and_queries_join_parts(st: PrivateState) -> None:
    st.on_message(report("0", "0"))
    st.on_message(report("0", "0", order_id=8, client_order_id="c2"))
    st.on_message(report("0", "0", order_id=9, client_order_id="c3"))
    w = st.waiter("mass_cancel", 5, instrument="BTC-PERP")
    for oid, clid in ((7, "c1"), (8, "c2")):
        st.on_message(report("4", "4", order_id=oid, client_order_id=clid, leaves_qty=0,
                             end_reason="mass_cancel", req_id=5))  # fmt: skip
    # another session's mass cancel reaches this one as a push without a request id
    st.on_message(report("4", "4", order_id=9, client_order_id="c3", leaves_qty=0,
                         end_reason="mass_cancel", req_id=None))  # fmt: skip
    st.on_message(wire({"type": "mass_cancel_report", "req_id": 5, "account": 1,
                        "instrument": "BTC-PERP", "canceled": 2, "end_reason": "mass_cancel",
                        "ts": 0}))  # fmt: skip
    assert await w.future == [7, 8]
    q = st.waiter("query", 6)
    rec = {"asset": "USD", "total": 1, "free": 1, "used": 0, "ts": 0}
    st.on_message(wire({"type": "query_reply", "req_id": 6, "query": "balances",
                        "items": [rec], "last": False, "ts": 0}))  # fmt: skip
    assert not q.future.done()
    st.on_message(wire({"type": "query_reply", "req_id": 6, "query": "balances",
                        "items": [rec], "ts": 0}))  # fmt: skip
    assert len(await q.future) == 2


async def test_pushes_update_state_and_fail_all(st: PrivateState) -> None:
    st.on_message(wire({"type": "position_update", "account": 1, "instrument": "BTC-PERP",
                        "qty": -3, "entry_price": "600000", "ts": 0}))  # fmt: skip
    (pos,) = await asyncio.wait_for(st.positions_stream.watch(), 1)
    assert pos.signed_contracts == Decimal("-0.003")
    w = st.waiter("query", 1)
    st.fail_all(E.NetworkError("gone"))
    with pytest.raises(E.NetworkError):
        await w.future
    assert not st.by_req

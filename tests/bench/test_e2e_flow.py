"""The e2e flow's frames and the in-place reply scanner (bench/loadgen.py)."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.loadgen import (
    CANCEL,
    FILLER,
    MAKER,
    MAKER_QTY,
    TAKER,
    Flow,
    Quote,
    quote_around,
    scan,
)
from gateway.protocol import ProtocolError, decode_request, encode

QUOTES = [Quote("BTC-PERP", 599_995, 600_005), Quote("ETH-PERP", 299_999, 300_001)]


def test_every_frame_is_a_valid_request() -> None:
    flow = Flow(3, 3, QUOTES)
    step = flow.build(3 * (flow.lag + 4))
    for frame in step.frames:
        msg = decode_request(frame)
        assert not isinstance(msg, ProtocolError), msg
        encode(msg)  # the strict encoder accepts it too


def test_the_cycle_maker_taker_cancel() -> None:
    flow = Flow(3, 2, QUOTES)
    lag = flow.lag
    assert lag == 4  # two instruments x two sides
    step = flow.build(3 * 20)
    msgs = [decode_request(f) for f in step.frames]
    assert step.base == 1 and step.lag == lag
    assert [m["req_id"] for m in msgs] == list(range(1, 61))
    for k in range(20):
        maker, taker, third = msgs[3 * k : 3 * k + 3]
        sm, st_, s3 = step.sock[3 * k : 3 * k + 3]
        q = QUOTES[(k // 2) % 2]
        assert step.kind[3 * k] == MAKER
        assert maker["post_only"] and maker["tif"] == "gtc" and maker["qty"] == MAKER_QTY
        assert maker["instrument"] == q.symbol
        assert maker["price"] == (q.bid if k % 2 == 0 else q.ask)
        assert sm < 3 <= st_  # makers are sockets 0..2, takers 3..4: never a self-trade
        if k < lag:  # nothing rests yet where this taker would trade
            assert step.kind[3 * k + 1] == step.kind[3 * k + 2] == FILLER
            assert taker["type"] == third["type"] == "heartbeat"
            continue
        target = msgs[3 * (k - lag)]
        assert step.kind[3 * k + 1] == TAKER and step.kind[3 * k + 2] == CANCEL
        assert taker["instrument"] == target["instrument"] and taker["price"] == target["price"]
        assert taker["side"] != target["side"] and taker["tif"] == "ioc" and taker["qty"] == 1
        assert third["type"] == "cancel"
        assert third["client_order_id"] == target["client_order_id"]
        assert s3 == step.sock[3 * (k - lag)]  # the owner cancels


def test_in_order_the_flow_fills_every_taker_and_cancels_every_maker_remainder() -> None:
    """Run the requests through a tiny price-time book in request order: after the first
    cycles every taker trades 1 lot with the order ``lag`` cycles older, every cancel
    finds that order with 1 lot left, and the books never hold more than 2 orders a price."""
    flow = Flow(3, 3, QUOTES)
    books: dict[tuple[str, str, int], list[list]] = {}  # (symbol, side, price) -> [[cid, qty]]
    where: dict[str, tuple[str, str, int]] = {}
    fills = cancels = 0
    for _ in range(3):  # three steps back to back
        for frame in flow.build(3 * 25).frames:
            m = decode_request(frame)
            if m["type"] == "new_order" and m["tif"] == "gtc":
                key = (m["instrument"], m["side"], m["price"])
                books.setdefault(key, []).append([m["client_order_id"], m["qty"]])
                where[m["client_order_id"]] = key
                assert len(books[key]) <= 2
            elif m["type"] == "new_order":
                other = "buy" if m["side"] == "sell" else "sell"
                queue = books.get((m["instrument"], other, m["price"]), [])
                assert queue, "a taker found nothing to trade with"
                queue[0][1] -= 1
                fills += 1
                assert queue[0][1] == MAKER_QTY - 1
            elif m["type"] == "cancel":
                queue = books[where.pop(m["client_order_id"])]
                assert queue[0][0] == m["client_order_id"] and queue[0][1] == 1
                queue.pop(0)
                cancels += 1
    assert fills == cancels == 3 * 25 - flow.lag


def test_steps_continue_the_flow_and_forget_makers_after_a_mass_cancel() -> None:
    flow = Flow(1, 1, QUOTES)
    first = flow.build(3 * flow.lag)
    second = flow.build(3)
    assert second.base == first.base + len(first.frames)
    assert second.kind[1] == TAKER and second.kind[2] == CANCEL  # meets the first step's
    flow.forget_makers()
    third = flow.build(3)
    assert third.kind[1] == third.kind[2] == FILLER
    with pytest.raises(ValueError):
        flow.set_quotes(QUOTES[:1])


def test_quote_around_a_mark() -> None:
    assert quote_around("X", 600_002, 5) == Quote("X", 599_995, 600_005)
    assert quote_around("X", 600_003, 5) == Quote("X", 600_000, 600_010)
    assert quote_around("X", 7, 5) == Quote("X", 5, 10)  # never below one tick


EXEC_TYPES = ["0", "4", "5", "8", "C", "D", "F"]
SCANNED_KEYS = ("type", "req_id", "exec_type", "client_order_id")


def _not_a_key(value: str | None) -> bool:
    """The in-place scanner finds keys by their bytes, so a string *value* spelling a key
    name would fool it; the load generator's own ids and texts never do."""
    return value is None or not any(k in value for k in SCANNED_KEYS)


@settings(max_examples=200, deadline=None)
@given(
    req_id=st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    exec_type=st.sampled_from(EXEC_TYPES),
    cid=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=0,
                max_size=64).filter(_not_a_key),
    text=st.one_of(st.none(), st.text(max_size=40)).filter(_not_a_key),
    stamps=st.lists(st.integers(0, 2**63 - 1), min_size=6, max_size=6),
)
def test_scan_reads_what_unpacking_reads(req_id, exec_type, cid, text, stamps) -> None:
    msg = {"v": 1, "type": "exec_report", "seq": 3, "account": 2, "exec_id": 4,
           "exec_type": exec_type, "ord_status": "0", "order_id": 5, "client_order_id": cid,
           "instrument": "BTC-PERP", "side": "buy", "price": 600_000, "order_qty": 2,
           "cum_qty": 0, "leaves_qty": 2, "avg_px": "0", "cum_notional": 0, "text": text,
           "ts": 1, **dict(zip(("ts_gw_in", "ts_clr_in", "ts_clr_out", "ts_me_in", "ts_me_out",
                                "ts_gw_out"), stamps))}  # fmt: skip
    if req_id is not None:
        msg["req_id"] = req_id
    frame = encode(msg, check=False)
    back = msgpack.unpackb(frame)
    mtype, rid, et, found_cid = scan(frame)
    assert mtype == back["type"] == "exec_report"
    assert rid == back.get("req_id")
    assert et == back["exec_type"]
    assert found_cid == (cid if req_id is None else None)


def test_scan_other_replies() -> None:
    reject = encode({"v": 1, "type": "reject", "req_id": 300, "reason": 1009,
                     "reason_name": "RATE_LIMITED", "text": "rate limited", "ts": 1},
                    check=False)  # fmt: skip
    assert scan(reject) == ("reject", 300, None, None)
    cxl = encode({"v": 1, "type": "cancel_reject", "req_id": 70_000, "seq": 9}, check=False)
    assert scan(cxl) == ("cancel_reject", 70_000, None, None)
    assert scan(encode({"v": 1, "type": "heartbeat_ack", "req_id": None}, check=False)) == (
        "heartbeat_ack", None, None, None)
    assert scan(b"\x80") == (None, None, None, None)

"""The e2e flow's frames and the in-place reply scanner (bench/loadgen.py)."""

from __future__ import annotations

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.loadgen import (
    CANCEL,
    CANCEL_LAG,
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
    step = flow.build(3 * (CANCEL_LAG + 4))
    for frame in step.frames:
        msg = decode_request(frame)
        assert not isinstance(msg, ProtocolError), msg
        encode(msg)  # the strict encoder accepts it too


def test_the_cycle_maker_taker_cancel() -> None:
    flow = Flow(3, 2, QUOTES)
    step = flow.build(3 * 20)
    msgs = [decode_request(f) for f in step.frames]
    assert step.base == 1
    assert [m["req_id"] for m in msgs] == list(range(1, 61))
    for k in range(20):
        maker, taker, third = msgs[3 * k : 3 * k + 3]
        sm, st_, s3 = step.sock[3 * k : 3 * k + 3]
        q = QUOTES[(k // 2) % 2]
        assert step.kind[3 * k] == MAKER and step.kind[3 * k + 1] == TAKER
        assert maker["post_only"] and maker["tif"] == "gtc" and maker["qty"] == MAKER_QTY
        assert maker["instrument"] == taker["instrument"] == q.symbol
        assert maker["price"] == taker["price"] == (q.bid if k % 2 == 0 else q.ask)
        assert maker["side"] != taker["side"] and taker["tif"] == "ioc" and taker["qty"] == 1
        assert sm < 3 <= st_  # makers are sockets 0..2, takers 3..4: never a self-trade
        if k < CANCEL_LAG:
            assert step.kind[3 * k + 2] == FILLER and third["type"] == "heartbeat"
        else:
            assert step.kind[3 * k + 2] == CANCEL and third["type"] == "cancel"
            target = msgs[3 * (k - CANCEL_LAG)]
            assert third["client_order_id"] == target["client_order_id"]
            assert s3 == step.sock[3 * (k - CANCEL_LAG)]  # the owner cancels


def test_steps_continue_the_flow_and_forget_makers_after_a_mass_cancel() -> None:
    flow = Flow(1, 1, QUOTES)
    first = flow.build(3 * CANCEL_LAG)
    second = flow.build(3)
    assert second.base == first.base + len(first.frames)
    assert second.kind[2] == CANCEL  # cancels the first step's first maker order
    flow.forget_makers()
    third = flow.build(3)
    assert third.kind[2] == FILLER


def test_quote_around_a_mark() -> None:
    assert quote_around("X", 600_002, 5) == Quote("X", 599_995, 600_005)
    assert quote_around("X", 600_003, 5) == Quote("X", 600_000, 600_010)
    assert quote_around("X", 7, 5) == Quote("X", 5, 10)  # never below one tick


EXEC_TYPES = ["0", "4", "5", "8", "C", "D", "F"]


@settings(max_examples=200, deadline=None)
@given(
    req_id=st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    exec_type=st.sampled_from(EXEC_TYPES),
    cid=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=0, max_size=64),
    text=st.one_of(st.none(), st.text(max_size=40)),
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

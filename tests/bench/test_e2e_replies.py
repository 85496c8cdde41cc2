"""The generator's receive side (bench/reply_log.py, bench/loadgen.read_replies) and the
stand-in servers' rendered replies (bench/stand_in.py, bench/sink.py, bench/echo.py).

Real sockets on 127.0.0.1; the reply log is filled by each of its two receive paths
(libzmq through ctypes, pyzmq) and must hold exactly what was sent, in order.
"""

from __future__ import annotations

import time
from array import array
from collections import Counter

import msgpack
import pytest
import zmq

from bench import echo, reply_log, sink
from bench.loadgen import CANCEL, FILLER, MAKER, TAKER, StepData, StepFrames, read_replies
from bench.reply_log import ReplyLog
from bench.stand_in import LOGON_ACK, Template
from gateway.protocol import HOP_FIELDS, encode


@pytest.fixture(params=["libzmq", "pyzmq"])
def receive_path(request, monkeypatch) -> str:
    if request.param == "libzmq":
        if reply_log.libzmq() is None:
            pytest.skip("libzmq cannot be reached through ctypes here")
    else:
        monkeypatch.setattr(reply_log, "_LIB", [None])
    return request.param


@pytest.fixture
def pair():
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealers = []
    for _ in range(2):
        d = ctx.socket(zmq.DEALER)
        d.linger = 0
        d.connect(f"tcp://127.0.0.1:{port}")
        dealers.append(d)
    idents = []
    for d in dealers:
        d.send(b"hello")
        idents.append(router.recv_multipart()[0])
    yield router, dealers, idents
    ctx.destroy(linger=0)


def _wait_readable(sock: zmq.Socket) -> None:
    assert sock.poll(5_000, zmq.POLLIN), "the replies never arrived"
    time.sleep(0.05)  # let the rest of the burst land too


def test_the_log_holds_every_reply_in_order_across_chunks(receive_path, pair,
                                                          monkeypatch) -> None:  # fmt: skip
    monkeypatch.setattr(reply_log, "CHUNK", 4096)  # force several chunk changes
    monkeypatch.setattr(reply_log, "MAX_REPLY", 1024)
    router, dealers, idents = pair
    sent = [bytes([i % 251]) * (1 + (i * 37) % 900) for i in range(60)]
    for i, frame in enumerate(sent):
        router.send_multipart([idents[i % 2], frame])
    log = ReplyLog()
    drain = log.drainer(dealers)
    got = 0
    deadline = time.monotonic() + 10
    while got < len(sent):
        assert time.monotonic() < deadline
        for d in dealers:
            d.poll(100, zmq.POLLIN)
        got += drain(0) + drain(1)
    assert drain(0) == drain(1) == 0  # emptied
    assert len(log.chunks) > 1 and log.oversize == 0
    by_sock = {0: [], 1: []}
    for sock, frame, _t in log.frames():
        by_sock[sock].append(bytes(frame))
    assert by_sock[0] == sent[0::2] and by_sock[1] == sent[1::2]
    assert all(a <= b for a, b in zip(log.time, log.time[1:]))
    assert next(iter(log.frames(58)))[1] == log.frame(58)


def test_a_reply_longer_than_the_limit_is_cut_and_counted(receive_path, pair,
                                                          monkeypatch) -> None:  # fmt: skip
    monkeypatch.setattr(reply_log, "MAX_REPLY", 100)
    router, dealers, idents = pair
    router.send_multipart([idents[0], b"x" * 250])
    router.send_multipart([idents[0], b"y" * 10])
    _wait_readable(dealers[0])
    log = ReplyLog()
    assert log.drainer(dealers)(0) == 2
    assert log.oversize == 1
    assert [bytes(f) for _, f, _ in log.frames()] == [b"x" * 100, b"y" * 10]


def test_drain_reports_nothing_on_an_empty_socket(receive_path, pair) -> None:
    _, dealers, _ = pair
    log = ReplyLog()
    assert log.drainer(dealers)(1) == 0 and len(log) == 0


# -- reading the log -------------------------------------------------------------------------
LAG = 4


def _data(kinds: list[int]) -> StepData:
    n = len(kinds)
    frames = StepFrames(base=101, frames=[b""] * n, sock=array("H", [0] * n),
                        kind=bytearray(kinds), lag=LAG)  # fmt: skip
    zeros = bytes(8 * n)
    return StepData(1000, frames, array("q", range(n)), array("q", zeros), array("q", zeros),
                    array("q", zeros), replies=Counter(), sent_count=n)  # fmt: skip


def _report(exec_type: str, req_id: int | None = None, cid: str = "x", stamp: int = 0) -> bytes:
    msg = {"v": 1, "type": "exec_report", "exec_type": exec_type, "ord_status": "0",
           "client_order_id": cid, **{h: stamp for h in HOP_FIELDS}}  # fmt: skip
    if req_id is not None:
        msg["req_id"] = req_id
    return encode(msg, check=False)


REJECT = encode({"v": 1, "type": "reject", "req_id": 104, "reason_name": "RATE_LIMITED"},
                check=False)  # fmt: skip


def test_read_replies_matches_acks_fills_cancels_and_refusals() -> None:
    n = 3 * LAG + 6
    kinds = [MAKER, TAKER, CANCEL] * (n // 3)
    data = _data(kinds)
    cancel_idx = 3 * LAG + 2  # cancels the maker order of request 0 (id b101)
    log = [
        (0, _report("0", req_id=101), 10),  # maker New
        (1, _report("0", req_id=102), 11),  # taker New ...
        (1, _report("F", req_id=102), 12),  # ... and its fill
        (0, _report("F", cid="b101"), 13),  # the resting maker's fill: not a first reply
        (0, _report("4", cid="b101"), 14),  # Canceled, named by the order it cancels
        (0, _report("0", req_id=103), 15),  # any first reply acknowledges
        (0, _report("0", req_id=103), 16),  # a second one does not move the ack
        (0, REJECT, 17),
        (0, _report("0", req_id=9_999), 18),  # not this step's
        (0, encode({"v": 1, "type": "heartbeat_ack"}, check=False), 19),
    ]
    read_replies(data, log)
    assert data.ack[0] == 10 and data.ack[1] == 11 and data.fill[1] == 12
    assert data.ack[cancel_idx] == 14
    assert data.ack[2] == 15 and data.ack[3] == 17
    assert data.fill[0] == 0  # a maker's fill is not a taker fill
    assert data.answered == 5 and data.unmatched == 1
    assert data.replies == Counter({"0": 5, "F": 2, "4": 1, "reject": 1,
                                    "reject:RATE_LIMITED": 1, "heartbeat_ack": 1})  # fmt: skip


def test_read_replies_samples_hops_of_one_ack_in_four() -> None:
    data = _data([MAKER] * 12 + [FILLER])
    read_replies(data, [(0, _report("0", req_id=101 + i, stamp=7 + i), 50 + i)
                        for i in range(12)])  # fmt: skip
    assert [(idx, t) for idx, t, _ in data.hops] == [(3, 53), (7, 57), (11, 61)]
    assert data.hops[0][2] == (10,) * len(HOP_FIELDS)
    assert data.answered == 12 and data.ack[12] == 0  # the filler is still waiting


# -- rendered replies --------------------------------------------------------------------------
def test_a_template_splices_the_request_id_at_a_fixed_size() -> None:
    t = Template({"v": 1, "type": "heartbeat_ack", "ts": 5})
    assert msgpack.unpackb(t.render(0)) == {"v": 1, "type": "heartbeat_ack", "ts": 5,
                                            "req_id": 0}  # fmt: skip
    assert msgpack.unpackb(t.render(2**63 + 5))["req_id"] == 2**63 + 5
    assert len(t.render(1)) == len(t.render(2**40)) == t.size
    with pytest.raises(ValueError):
        Template({"inner": {"req_id": 2**64 - 1}})  # the id could not be told apart


def test_the_echo_answers_one_ack_shaped_frame_per_request() -> None:
    order = encode({"v": 1, "type": "new_order", "req_id": 77, "instrument": "BTC-PERP",
                    "side": "buy", "ord_type": "limit", "qty": 1, "price": 5, "tif": "ioc",
                    "client_order_id": "b77"}, check=False)  # fmt: skip
    heartbeat = encode({"v": 1, "type": "heartbeat", "req_id": 78, "ts": 0}, check=False)
    for frame, rid in ((order, 77), (heartbeat, 78)):
        (reply,) = echo.answer(frame)
        msg = msgpack.unpackb(reply)
        assert msg["type"] == "exec_report" and msg["exec_type"] == "0"
        assert msg["req_id"] == rid and len(reply) == echo.ACK.size
    assert 300 <= echo.ACK.size <= 400  # the exchange's New report is ~350 bytes
    logon = encode({"v": 1, "type": "logon", "req_id": 5, "heartbeat_ms": 1000}, check=False)
    assert echo.answer(logon) == [LOGON_ACK.render(5)]


def test_the_sink_answers_like_the_exchange_does() -> None:
    def types(frame: bytes) -> list[tuple]:
        return [(m["type"], m.get("exec_type"), m["req_id"])
                for m in map(msgpack.unpackb, sink.answer(frame))]  # fmt: skip

    ioc = encode({"v": 1, "type": "new_order", "req_id": 9, "tif": "ioc"}, check=False)
    gtc = encode({"v": 1, "type": "new_order", "req_id": 8, "tif": "gtc"}, check=False)
    cxl = encode({"v": 1, "type": "cancel", "req_id": 7, "client_order_id": "b1"}, check=False)
    hb = encode({"v": 1, "type": "heartbeat", "req_id": 6, "ts": 0}, check=False)
    assert types(ioc) == [("exec_report", "0", 9), ("exec_report", "F", 9)]
    assert types(gtc) == [("exec_report", "0", 8)]
    assert types(cxl) == [("exec_report", "4", 7)]
    assert types(hb) == [("heartbeat_ack", None, 6)]

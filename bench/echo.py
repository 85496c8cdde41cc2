"""The floor: a bare ZeroMQ echo answering each request with one acknowledgement-sized frame.

``python -m bench.echo --endpoint tcp://127.0.0.1:PORT --server-key FILE`` is the least a
server behind crossbook's order entry can do (``bench.stand_in``): a CURVE ROUTER, like
the exchange's, that decodes each request (msgpack, as any server must) and answers it
at once with one frame shaped like the exchange's ``New`` acknowledgement: the same keys
in the same order, values of the same widths (``ACK``, 350 bytes or so), carrying the
request's ``req_id``. ``crossbook bench e2e`` drives it with the same client, flow, codec
and pacing as the exchange, in its own process, and reports the highest rate it holds
(``floor_echo_per_s``) and its round trip at a low rate (``floor_rtt_p50_us``): what this
machine, ZeroMQ, CURVE and the Python client cost before any exchange work.

The hop timestamps of ``ACK`` are constants (the echo has no hops): floor steps carry no
per-hop figures.
"""

from __future__ import annotations

import msgpack

from bench.stand_in import LOGON_ACK, Template, main

_TS = 1_796_538_393_146_297_382
"""a nanosecond wall-clock time: stamps encode as 8-byte integers, as the exchange's do"""
ACK = Template({
    "v": 1, "type": "exec_report", "account": 1, "exec_id": 50, "exec_type": "0",
    "ord_status": "0", "order_id": 9, "client_order_id": "b19", "instrument": "ETH-PERP",
    "side": "buy", "ord_type": "limit", "tif": "gtc", "price": 299_999, "order_qty": 2,
    "cum_qty": 0, "leaves_qty": 2, "avg_px": "0", "cum_notional": 0, "ts": _TS,
    "ts_gw_in": _TS, "ts_clr_in": _TS, "ts_clr_out": _TS, "ts_me_in": _TS,
    "ts_me_out": _TS, "ts_gw_out": _TS, "seq": 8,
})  # fmt: skip
"""the exchange's ``New`` report of a maker order, key for key (``req_id`` is spliced in)"""


def answer(frame: bytes) -> list[bytes]:
    request = msgpack.unpackb(frame)
    rid = request.get("req_id") or 0
    if request.get("type") == "logon":
        return [LOGON_ACK.render(rid)]
    return [ACK.render(rid)]


if __name__ == "__main__":
    main("python -m bench.echo: " + __doc__.splitlines()[0], answer)

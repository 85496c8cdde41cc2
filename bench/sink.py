"""A stand-in exchange that only answers: how fast the e2e load generator is on its own.

``python -m bench.sink --endpoint tcp://127.0.0.1:PORT --server-key FILE`` binds a CURVE
ROUTER (any client key admitted) and answers each order-entry frame at once with
pre-shaped execution reports, roughly the volume the real exchange sends: ``New`` for a
new order, ``New`` + ``Trade`` for an IOC, ``Canceled`` for a cancel, ``heartbeat_ack``
for a heartbeat, ``logon_ack`` for a logon. There is no book and no validation: it only
makes the generator do all of its own work (encrypting, sending, receiving, scanning).
``crossbook bench e2e --sink`` runs the rate steps against it.
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

import msgpack
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from bench.loadgen import scan
from gateway import keys as keyfiles

_TEMPLATE = {
    "v": 1, "type": "exec_report", "req_id": 0, "seq": 0, "account": 1, "exec_id": 2,
    "exec_type": "0", "ord_status": "0", "order_id": 1, "client_order_id": "b1",
    "instrument": "BTC-PERP", "side": "buy", "ord_type": "limit", "tif": "gtc",
    "price": 600000, "order_qty": 2, "cum_qty": 0, "leaves_qty": 2, "avg_px": "0",
    "cum_notional": 0, "last_qty": None, "last_px": None, "trade_id": None,
    "liquidity": None, "ts": 0, "ts_gw_in": 0, "ts_clr_in": 0, "ts_clr_out": 0,
    "ts_me_in": 0, "ts_me_out": 0, "ts_gw_out": 0,
}  # fmt: skip


def serve(endpoint: str, server_key: Path) -> None:
    pair = keyfiles.load_secret(server_key)
    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
    sock = ctx.socket(zmq.ROUTER)
    sock.linger = 0
    sock.sndhwm = 0
    sock.rcvhwm = 0
    sock.curve_secretkey = pair.secret
    sock.curve_publickey = pair.public
    sock.curve_server = True
    sock.bind(endpoint)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    packb = msgpack.packb
    report = dict(_TEMPLATE)
    seq = 0
    try:
        while not stop:
            if not sock.poll(100):
                continue
            while True:
                try:
                    rid_frame, frame = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                mtype, req_id, _, _ = scan(frame)
                out: list[dict] = []
                if mtype == "new_order":
                    out.append({"exec_type": "0"})
                    if b"\xa3ioc" in frame:
                        out.append({"exec_type": "F", "ord_status": "2", "last_qty": 1,
                                    "last_px": 600000, "trade_id": seq + 1})  # fmt: skip
                elif mtype == "cancel":
                    out.append({"exec_type": "4", "ord_status": "4"})
                elif mtype == "logon":
                    msg = {"v": 1, "type": "logon_ack", "req_id": req_id, "account": 1,
                           "session_id": 1, "heartbeat_ms": 60000,
                           "cancel_on_disconnect": False, "ts": 0}  # fmt: skip
                    sock.send_multipart([rid_frame, packb(msg)])
                    continue
                else:
                    msg = {"v": 1, "type": "heartbeat_ack", "req_id": req_id, "ts": 0, "ts_gw": 0}
                    sock.send_multipart([rid_frame, packb(msg)])
                    continue
                for extra in out:
                    seq += 1
                    report.update(extra)
                    report["req_id"] = req_id
                    report["seq"] = seq
                    sock.send_multipart([rid_frame, packb(report)])
                report.update(_TEMPLATE)
    finally:
        sock.close(linger=0)
        auth.stop()
        ctx.term()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--server-key", type=Path, required=True, help="server secret key file")
    args = parser.parse_args()
    serve(args.endpoint, args.server_key)


if __name__ == "__main__":
    main()

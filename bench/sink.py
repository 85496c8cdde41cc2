"""A stand-in exchange that only answers: how fast the e2e load generator is on its own.

``python -m bench.sink --endpoint tcp://127.0.0.1:PORT --server-key FILE`` answers each
order-entry frame at once with the replies the real exchange sends for it, rendered in
advance (``bench.stand_in``): ``New`` for a new order, ``New`` + ``Trade`` for an IOC,
``Canceled`` for a cancel, ``heartbeat_ack`` for a heartbeat, ``logon_ack`` for a logon.
There is no book and no validation, and the replies are not packed per request: the
sink spends as little of the shared cores as it can, so that the generator does all of
its own work (encrypting, sending, receiving, storing, reading) and is the limit.
``crossbook bench e2e --sink`` runs the rate steps against it.
"""

from __future__ import annotations

from bench.loadgen import scan
from bench.stand_in import LOGON_ACK, Template, main

_REPORT = {
    "v": 1, "type": "exec_report", "account": 1, "exec_id": 2,
    "exec_type": "0", "ord_status": "0", "order_id": 1, "client_order_id": "b1",
    "instrument": "BTC-PERP", "side": "buy", "ord_type": "limit", "tif": "gtc",
    "price": 600000, "order_qty": 2, "cum_qty": 0, "leaves_qty": 2, "avg_px": "0",
    "cum_notional": 0, "last_qty": None, "last_px": None, "trade_id": None,
    "liquidity": None, "ts": 0, "ts_gw_in": 0, "ts_clr_in": 0, "ts_clr_out": 0,
    "ts_me_in": 0, "ts_me_out": 0, "ts_gw_out": 0, "seq": 0,
}  # fmt: skip
NEW = Template(_REPORT)
TRADE = Template({**_REPORT, "exec_type": "F", "ord_status": "2", "last_qty": 1,
                  "last_px": 600000, "trade_id": 1})  # fmt: skip
CANCELED = Template({**_REPORT, "exec_type": "4", "ord_status": "4"})
HEARTBEAT_ACK = Template({"v": 1, "type": "heartbeat_ack", "ts": 0, "ts_gw": 0})


def answer(frame: bytes) -> list[bytes]:
    mtype, req_id, _, _ = scan(frame)
    rid = req_id or 0
    if mtype == "new_order":
        if b"\xa3ioc" in frame:
            return [NEW.render(rid), TRADE.render(rid)]
        return [NEW.render(rid)]
    if mtype == "cancel":
        return [CANCELED.render(rid)]
    if mtype == "logon":
        return [LOGON_ACK.render(rid)]
    return [HEARTBEAT_ACK.render(rid)]


if __name__ == "__main__":
    main("python -m bench.sink: " + __doc__.splitlines()[0], answer)

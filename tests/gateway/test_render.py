"""Every compact report the core produces renders into a valid protocol message."""

from __future__ import annotations

from clearing.core import reports as rp
from gateway.codec import encode
from gateway.protocol import decode_push
from gateway.reasons import Reason
from gateway.render import figures, render
from tests.clearing.core.test_core import _pipe, _random_flow

HOPS = (11, 12, 13, 14, 15)


def test_every_report_of_a_random_flow_renders_valid() -> None:
    p, gw = _pipe()
    kinds = set()
    for batch in _random_flow(3, gw, 120):
        for account, *_, rep, _direct, _matched in p.run(batch).replies:
            msg = render(rep, HOPS)
            encode(msg, check=True)  # raises on any field the schema refuses
            back = decode_push(encode(msg))
            assert not hasattr(back, "reason") or isinstance(back, dict), back
            assert msg["account"] == account
            kinds.add((msg["type"], msg.get("exec_type")))
            if msg["type"] == "exec_report" and msg["ord_status"] in ("0", "1"):
                assert msg["order_qty"] == msg["cum_qty"] + msg["leaves_qty"]
            elif msg["type"] == "exec_report":
                assert msg["leaves_qty"] == 0
                assert (msg["ts_gw_in"], msg["ts_me_out"]) == (11, 15)
    assert {("exec_report", "0"), ("exec_report", "F"), ("exec_report", "4")} <= kinds


def test_avg_px_is_the_exact_ratio() -> None:
    rep = (rp.EXEC, 1, 4, rp.X_TRADE, rp.S_PARTIAL, 9, "c", "X", 1, 2, 1, 101, 10, 7, 3,
           709, 5, (2, 101, 3, "maker"))  # fmt: skip
    msg = render(rep)
    assert msg["avg_px"] == "101.28571429" and msg["last_px"] == 101 and msg["side"] == "buy"


def test_clearing_figures_get_their_reason_names() -> None:
    assert figures(int(Reason.INSUFFICIENT_MARGIN), [5, 3]) == {"required": 5, "available": 3}
    named = figures(int(Reason.PRICE_OUTSIDE_STATIC_BAND), (105, 110))
    assert named == {"band_limit": 105, "price": 110}
    assert figures(1, {"open_orders": 2}) == {"open_orders": 2}
    assert figures(1, None) is None

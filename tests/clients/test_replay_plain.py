"""Plain order flow: the translation rules from LOBSTER and CSV rows, and the in-process
matcher driven by the same requests (the wire replay's reference)."""

from __future__ import annotations

from pathlib import Path

from clients.replay import lobster
from clients.replay.csvflow import read_flow
from clients.replay.lobster import LobsterMessage
from clients.replay.plain import (
    FlowStats,
    PlainReplay,
    csv_requests,
    instrument_from_record,
    lobster_requests,
)
from gateway.protocol import validate
from matching.instrument import Instrument

DATA = Path(__file__).resolve().parents[1] / "data"
MSG = DATA / "AMZN_2012-06-21_34200000_57600000_message_5.csv"
AMZN = Instrument("AMZN-PERP", 100, 1, 1, 1_000_000, 4, 0)


def m(line: int, t: int, oid: int, size: int, price: int, d: int) -> LobsterMessage:
    return LobsterMessage(line, line * 1000, t, oid, size, price, d)


def test_lobster_rules() -> None:
    st = FlowStats()
    reqs = list(lobster_requests([
        m(1, 1, 10, 100, 2238100, 1),   # new bid
        m(2, 2, 10, 30, 2238100, 1),    # partial cancel -> amend to 70
        m(3, 4, 10, 20, 2238100, 1),    # execution of the bid -> IOC sell
        m(4, 2, 10, 70, 2238100, 1),    # cancels the rest -> cancel
        m(5, 1, 10, 5, 2238200, -1),    # the id again -> a new client order id
        m(6, 3, 99, 5, 2238200, -1),    # delete of an order from before the file
        m(7, 5, 0, 5, 2238200, -1),     # hidden execution
        m(8, 7, 0, 0, -1, -1),          # halt
        m(9, 1, 11, 5, 2238150, 1),     # off the 1/100-cent grid of price_decimals 2
        m(10, 3, 10, 5, 2238200, -1),   # delete
    ], price_decimals=2, qty_decimals=0, prefix="P", stats=st))  # fmt: skip
    got = [(r.action, r.clid, r.side, r.price, r.qty, r.tif) for r in reqs]
    assert got == [
        ("new", "P10", "buy", 22381, 100, "gtc"),
        ("amend", "P10", None, None, 70, "gtc"),
        ("new", "Px1", "sell", 22381, 20, "ioc"),
        ("cancel", "P10", None, None, None, "gtc"),
        ("new", "P10.1", "sell", 22382, 5, "gtc"),
        ("cancel", "P10.1", None, None, None, "gtc"),
    ]
    assert st.skipped == {"order_before_file": 1, "hidden_execution": 1, "halt": 1,
                          "not_whole_units": 1}  # fmt: skip
    assert st.rows == 10 and st.requests == 6
    for r in reqs:  # every request is a valid protocol message
        assert validate({"v": 1, **r.message("AMZN-PERP"), "req_id": 1}) is None


def test_csv_rules(tmp_path: Path) -> None:
    f = tmp_path / "flow.csv"
    f.write_text(
        "ts_ns,action,order_id,account,instrument,side,price,qty,tif\n"
        "1,new,1,7,BTC-PERP,B,100,2,POST\n"
        "2,amend,1,7,BTC-PERP,,101,3,\n"
        "3,new,2,8,ETH-PERP,S,50,1,IOC\n"
        "4,cancel,1,7,BTC-PERP,,,,\n"
        "5,oops\n"
    )
    st = FlowStats()
    reqs = list(csv_requests(read_flow(f), tick_size=5, lot_size=10, only="BTC-PERP", stats=st))
    got = [(r.action, r.clid, r.side, r.price, r.qty, r.tif, r.post_only) for r in reqs]
    assert got == [
        ("new", "C1", "buy", 500, 20, "gtc", True),
        ("amend", "C1", None, 505, 30, "gtc", False),
        ("cancel", "C1", None, None, None, "gtc", False),
    ]
    assert st.skipped == {"other_instrument": 1, "bad_row": 1}


def test_plain_replay_of_the_excerpt() -> None:
    st = FlowStats()
    reqs = list(lobster_requests(lobster.read_messages(MSG), price_decimals=4, qty_decimals=0,
                                 stats=st))  # fmt: skip
    r = PlainReplay(AMZN).run(reqs)
    r.engine.validate()
    assert st.rows == 3000 and st.requests == len(reqs) > 2500
    assert r.sent["new"] + r.sent["cancel"] + r.sent["amend"] == len(reqs)
    assert r.fills > 0 and r.filled_qty > 0
    bids, asks = r.levels()
    assert bids and asks and bids[0][0] < asks[0][0]  # a real, uncrossed book
    # the same flow twice gives the same book (what the wire test relies on)
    r2 = PlainReplay(AMZN).run(reqs)
    assert r2.levels() == (bids, asks) and r2.engine.state_hash() == r.engine.state_hash()


def test_unknown_targets_count_as_unknown_order() -> None:
    r = PlainReplay(AMZN)
    reqs = list(lobster_requests([m(1, 1, 5, 10, 2238100, 1), m(2, 4, 5, 10, 2238100, 1),
                                  m(3, 3, 5, 10, 2238100, 1)], price_decimals=4,
                                 qty_decimals=0))  # fmt: skip
    r.run(reqs)  # the IOC fills the order, so the delete finds nothing
    assert r.rejects == {"UNKNOWN_ORDER": 1} and r.levels() == ([], [])


def test_instrument_from_record() -> None:
    rec = {"symbol": "AMZN-PERP", "tick_size": 100, "lot_size": 1, "min_qty": 1,
           "max_qty": 1_000_000, "price_decimals": 4, "qty_decimals": 0}  # fmt: skip
    assert instrument_from_record(rec) == AMZN

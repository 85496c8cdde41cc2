"""Execution reports (gateway/reports.py) from events of a real ``matching.MatchingEngine``:
FIX ExecType / OrdStatus / CumQty / LeavesQty / AvgPx sequences, rejects, cancel rejects,
the clearing hook, and a random-flow property test against the engine's own order state."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import protocol as P
from gateway.reasons import Reason
from gateway.reports import (
    Hops,
    OrderTracker,
    cancel_reject,
    cxl_rej_reason,
    ord_rej_reason,
    order_reject,
    reject_message,
)
from matching import (
    BUY,
    SELL,
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    Fill,
    Instrument,
    MassCancel,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    OrderAccepted,
    Resume,
)
from matching.enums import StpMode, TimeInForce

IOC, FOK, GTD = int(TimeInForce.IOC), int(TimeInForce.FOK), int(TimeInForce.GTD)
TERMINAL = {"2", "4", "8", "C"}


class Exchange:
    """A matcher plus a tracker; every report is checked against the protocol on the way."""

    def __init__(self, tracker: OrderTracker | None = None) -> None:
        self.engine = MatchingEngine(
            [
                Instrument("X", max_qty=1_000_000),
                Instrument("Y", tick_size=5, lot_size=10, min_qty=10, max_qty=10_000),
            ]
        )
        self.tracker = tracker or OrderTracker()
        self.ts = 0
        self.next_id = 0
        self.hops = Hops(1, 2, 3, 4, 5)

    def oid(self) -> int:
        self.next_id += 1
        return self.next_id

    def run(self, cmd: Any) -> list[dict]:
        reports = self.tracker.apply_all(self.engine.apply(cmd), self.hops)
        for rep in reports:
            frame = P.encode(rep)  # strict: only documented fields, right types
            assert isinstance(P.decode_push(frame), dict)
        return reports

    def new(self, account: int, side: int, qty: int, price: int | None, **kw: Any) -> list[dict]:
        self.ts += 1
        kw.setdefault("client_order_id", f"c{self.next_id + 1}")
        return self.run(NewOrder(self.ts, kw.pop("instrument", "X"), self.oid(), account, side,
                                 qty, price, **kw))  # fmt: skip

    def cancel(self, account: int, order_id: int) -> list[dict]:
        self.ts += 1
        return self.run(CancelOrder(self.ts, "X", order_id, account))

    def amend(self, account: int, order_id: int, price: int | None = None,
              qty: int | None = None) -> list[dict]:  # fmt: skip
        self.ts += 1
        return self.run(AmendOrder(self.ts, "X", order_id, account, price, qty))


def brief(rep: dict) -> tuple:
    """(order_id, ExecType, OrdStatus, OrderQty, CumQty, LeavesQty, AvgPx)."""
    return (rep["order_id"], rep["exec_type"], rep["ord_status"], rep["order_qty"],
            rep["cum_qty"], rep["leaves_qty"], rep["avg_px"])  # fmt: skip


# -- one order's whole life ---------------------------------------------------------------
def test_full_order_life_new_partial_fills_amends_cancel() -> None:
    ex = Exchange()
    a = ex.new(1, SELL, 10, 100, client_order_id="A")
    assert [brief(r) for r in a] == [(1, "0", "0", 10, 0, 10, "0")]
    assert a[0]["client_order_id"] == "A" and a[0]["side"] == "sell" and a[0]["price"] == 100
    assert (a[0]["ord_type"], a[0]["tif"]) == ("limit", "gtc")

    b = ex.new(2, BUY, 3, 100, tif=IOC)  # taker fills completely
    assert [brief(r) for r in b] == [
        (2, "0", "0", 3, 0, 3, "0"),
        (2, "F", "2", 3, 3, 0, "100"),  # taker first
        (1, "F", "1", 10, 3, 7, "100"),  # then the maker
    ]
    assert [r["account"] for r in b] == [2, 2, 1]
    assert [(r["liquidity"], r["last_qty"], r["last_px"]) for r in b[1:]] == [
        ("taker", 3, 100), ("maker", 3, 100)]  # fmt: skip
    assert b[1]["trade_id"] == b[2]["trade_id"]

    r = ex.amend(1, 1, qty=8)  # quantity down in place: keeps priority
    assert [brief(x) for x in r] == [(1, "5", "1", 8, 3, 5, "100")]
    assert r[0]["kept_priority"] is True

    r = ex.new(2, BUY, 2, 100)  # a second partial fill
    assert [brief(x) for x in r if x["order_id"] == 1] == [(1, "F", "1", 8, 5, 3, "100")]

    r = ex.amend(1, 1, price=101)  # price change: loses priority
    assert [brief(x) for x in r] == [(1, "5", "1", 8, 5, 3, "100")]
    assert r[0]["kept_priority"] is False and r[0]["price"] == 101

    r = ex.new(3, BUY, 1, 101)
    mine = [x for x in r if x["order_id"] == 1]
    assert [brief(x) for x in mine] == [(1, "F", "1", 8, 6, 2, "100.16666667")]
    assert mine[0]["cum_notional"] == 5 * 100 + 101

    r = ex.cancel(1, 1)
    assert [brief(x) for x in r] == [(1, "4", "4", 8, 6, 0, "100.16666667")]
    assert r[0]["end_reason"] == "user_cancel"
    assert ex.tracker.get(1) is None and ex.tracker.find(1, "A") is None

    r = ex.cancel(1, 1)  # too late: the order is gone
    assert len(r) == 1 and r[0]["type"] == "cancel_reject"
    assert (r[0]["reason"], r[0]["cxl_rej_reason"], r[0]["ord_status"], r[0]["response_to"]) == (
        Reason.UNKNOWN_ORDER, 1, "8", "cancel")  # fmt: skip


def test_ioc_remainder_expires_with_leaves_zero() -> None:
    ex = Exchange()
    ex.new(1, SELL, 2, 100)
    r = ex.new(2, BUY, 5, 101, tif=IOC)
    assert [brief(x) for x in r] == [
        (2, "0", "0", 5, 0, 5, "0"),
        (2, "F", "1", 5, 2, 3, "100"),
        (1, "F", "2", 2, 2, 0, "100"),
        (2, "C", "C", 5, 2, 0, "100"),
    ]
    assert r[-1]["end_reason"] == "ioc_remainder"
    assert len(ex.tracker) == 0


def test_fok_that_cannot_fill_expires_untouched() -> None:
    ex = Exchange()
    ex.new(1, SELL, 2, 100)
    r = ex.new(2, BUY, 5, 100, tif=FOK)
    assert [brief(x) for x in r] == [(2, "0", "0", 5, 0, 5, "0"), (2, "C", "C", 5, 0, 0, "0")]
    assert r[-1]["end_reason"] == "fok_not_fillable"


def test_gtd_expiry() -> None:
    ex = Exchange()
    ex.new(1, BUY, 4, 99, tif=GTD, expire_ts=50)
    r = ex.run(AdvanceTime(60))
    assert [brief(x) for x in r] == [(1, "C", "C", 4, 0, 0, "0")]
    assert r[0]["end_reason"] == "gtd_expired" and r[0]["ts"] == 60


def test_amend_that_crosses_fills_and_finishes() -> None:
    ex = Exchange()
    ex.new(1, BUY, 5, 99)
    ex.new(2, SELL, 5, 100)
    r = ex.amend(1, 1, price=100)
    assert [brief(x) for x in r] == [
        (1, "5", "0", 5, 0, 5, "0"),
        (1, "F", "2", 5, 5, 0, "100"),
        (2, "F", "2", 5, 5, 0, "100"),
    ]
    assert len(ex.tracker) == 0


@pytest.mark.parametrize(
    ("kw", "reason", "fix"),
    [
        ({"price": 101, "instrument": "Y", "qty": 10}, Reason.OFF_TICK_PRICE, 99),
        ({"price": 100, "instrument": "Y", "qty": 20_000}, Reason.QUANTITY_TOO_LARGE, 3),
        ({"price": 100, "instrument": "Z"}, Reason.UNKNOWN_INSTRUMENT, 1),
        ({"price": 100, "post_only": True}, Reason.POST_ONLY_WOULD_TAKE, 11),
        ({"price": None}, Reason.INVALID_PRICE, 99),
    ],
)
def test_rejected_orders(kw: dict, reason: Reason, fix: int) -> None:
    ex = Exchange()
    ex.new(2, SELL, 1, 100)
    kw.setdefault("qty", 3)
    qty = kw.pop("qty")
    r = ex.new(1, BUY, qty, kw.pop("price"), **kw)
    assert len(r) == 1
    rep = r[0]
    assert (rep["exec_type"], rep["ord_status"], rep["cum_qty"], rep["leaves_qty"]) == (
        "8", "8", 0, 0)  # fmt: skip
    assert (rep["reason"], rep["reason_name"], rep["ord_rej_reason"]) == (reason, reason.name, fix)
    assert rep["text"] and rep["client_order_id"] == "c2" and rep["account"] == 1
    assert rep["exec_id"] > 0 and rep["ts_me_out"] == 5
    assert ex.tracker.get(2) is None


def test_foreign_cancel_reject_reveals_nothing() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100, client_order_id="secret")
    r = ex.cancel(2, 1)
    assert len(r) == 1
    rej = r[0]
    assert rej["type"] == "cancel_reject" and rej["account"] == 2
    assert (rej["reason"], rej["cxl_rej_reason"]) == (Reason.NOT_ORDER_OWNER, 99)
    assert rej["client_order_id"] is None and rej["ord_status"] == "8"


def test_amend_reject_reports_the_orders_current_status() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100, client_order_id="mine")
    ex.new(2, BUY, 2, 100)
    r = ex.amend(1, 1, qty=2)  # not above what is filled
    assert len(r) == 1
    rej = r[0]
    assert (rej["response_to"], rej["reason"], rej["ord_status"], rej["client_order_id"]) == (
        "amend", Reason.INVALID_AMEND, "1", "mine")  # fmt: skip
    assert ex.tracker.get(1).leaves_qty == 3  # unchanged


def test_mass_cancel_reports_each_order_then_the_summary() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100)
    ex.new(1, BUY, 5, 90)
    ex.new(1, SELL, 10, 105, instrument="Y")
    ex.new(2, SELL, 5, 101)
    ex.ts += 1
    r = ex.run(MassCancel(ex.ts, 1))
    assert [(x["type"], x.get("order_id"), x.get("end_reason")) for x in r] == [
        ("exec_report", 1, "mass_cancel"),
        ("exec_report", 2, "mass_cancel"),
        ("exec_report", 3, "mass_cancel"),
        ("mass_cancel_report", None, "mass_cancel"),
    ]
    assert r[-1]["canceled"] == 3 and r[-1]["instrument"] is None
    assert [s.order_id for s in ex.tracker.open_orders(1)] == []
    assert [s.order_id for s in ex.tracker.open_orders(2)] == [4]


def test_self_trade_decrement_restates_both_orders() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100)
    r = ex.new(1, BUY, 3, 100, stp=int(StpMode.DECREMENT))
    assert [brief(x) for x in r] == [
        (2, "0", "0", 3, 0, 3, "0"),
        (2, "D", "0", 0, 0, 0, "0"),
        (1, "D", "0", 2, 0, 2, "0"),
        (2, "C", "C", 0, 0, 0, "0"),
    ]
    assert r[1]["end_reason"] == "self_trade" and r[-1]["end_reason"] == "self_trade"
    resting = ex.engine.orders[1]
    assert (resting.qty, resting.leaves) == (ex.tracker.get(1).order_qty, 2)


def test_self_trade_expire_maker_then_trade() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100)
    ex.new(2, SELL, 5, 100)
    r = ex.new(1, BUY, 4, 100, stp=int(StpMode.EXPIRE_MAKER))
    assert [brief(x) for x in r] == [
        (3, "0", "0", 4, 0, 4, "0"),
        (1, "C", "C", 5, 0, 0, "0"),
        (3, "F", "2", 4, 4, 0, "100"),
        (2, "F", "1", 5, 4, 1, "100"),
    ]
    assert r[1]["end_reason"] == "self_trade"


def test_auction_uncross_reports_both_sides_as_auction() -> None:
    ex = Exchange()
    ex.run(OpenAuction(1, "X"))
    ex.new(1, BUY, 5, 101)
    ex.new(2, SELL, 5, 100)
    r = ex.run(Resume(10, "X", reference_price=100))
    fills = [x for x in r if x["exec_type"] == "F"]
    assert [(x["order_id"], x["side"], x["liquidity"], x["ord_status"]) for x in fills] == [
        (1, "buy", "auction", "2"), (2, "sell", "auction", "2")]  # fmt: skip


def test_hops_are_copied_and_exec_ids_follow_the_matcher_seq() -> None:
    ex = Exchange()
    ex.hops = Hops(11, 12, 13, 14, 15)
    ex.new(1, SELL, 5, 100)
    events = ex.engine.apply(NewOrder(9, "X", 50, 2, BUY, 2, 100, client_order_id="z"))
    reports = ex.tracker.apply_all(events, ex.hops)
    fill = next(e for e in events if isinstance(e, Fill))
    accepted = next(e for e in events if isinstance(e, OrderAccepted))
    assert [r["exec_id"] for r in reports] == [2 * accepted.seq, 2 * fill.seq, 2 * fill.seq + 1]
    for r in reports:
        assert [r[k] for k in P.HOP_FIELDS] == [11, 12, 13, 14, 15, 0]
        assert r["ts"] == 9


def test_tracker_started_late_adopts_orders_with_unknown_average() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100)
    ex.new(1, SELL, 5, 105)
    late = OrderTracker()
    ex.tracker = late
    r = ex.amend(1, 2, qty=4)  # unknown to the late tracker: reported, side unknown
    assert brief(r[0]) == (2, "5", "0", 4, 0, 4, None) and r[0]["side"] is None
    assert late.get(2) is None
    r = ex.new(2, BUY, 2, 100)
    maker = next(x for x in r if x["order_id"] == 1)
    assert late.get(1) is not None  # adopted at its fill
    assert brief(maker) == (1, "F", "1", 5, 2, 3, None)
    assert maker["cum_notional"] is None and maker["side"] == "sell"
    assert late.get(3) is None  # the taker filled completely: forgotten at once
    r = ex.cancel(1, 1)
    assert brief(r[0]) == (1, "4", "4", 5, 2, 0, None)
    assert len(late) == 0


# -- the clearing hook and gateway-built rejects -------------------------------------------
class PreTradeRejected(NamedTuple):  # the agreed shape (notes/clearing-interfaces.md)
    ts: int
    account: object
    client_order_id: object
    reason: int
    required: int
    available: int
    text: str


class RequestRejected(NamedTuple):
    ts: int
    account: object
    command: str
    reason: int
    required: int
    available: int
    text: str


def test_pre_trade_reject_carries_its_figures() -> None:
    tr = OrderTracker()
    ev = PreTradeRejected(
        7, 3, "c9", Reason.INSUFFICIENT_MARGIN, 5_000, 1_200, "insufficient margin"
    )
    [rep] = tr.apply(ev, Hops(1, 2, 3, 0, 0))
    assert (rep["exec_type"], rep["ord_status"], rep["reason"], rep["ord_rej_reason"]) == (
        "8", "8", 2001, 3)  # fmt: skip
    assert rep["figures"] == {"required": 5_000, "available": 1_200}
    assert (rep["ts_me_in"], rep["ts_me_out"], rep["exec_id"], rep["order_id"]) == (0, 0, 0, None)
    assert isinstance(P.decode_push(P.encode(rep)), dict)
    assert tr.apply(PreTradeRejected(7, "x", "c9", 2001, 0, 0, "")) == []  # unroutable


def test_real_clearing_event_goes_through_the_hook() -> None:
    events = pytest.importorskip("clearing.events")
    ev = events.PreTradeRejected(1, 4, "c1", Reason.PRICE_OUTSIDE_STATIC_BAND, 110, 120, "band")
    [rep] = OrderTracker().apply(ev)
    assert rep["figures"] == {"band_limit": 110, "price": 120}
    P.encode(rep)


def test_reject_request_answers_in_the_requests_own_terms() -> None:
    ex = Exchange()
    ex.new(3, SELL, 5, 100, client_order_id="q")
    tr = ex.tracker
    new = P.decode_request(P.encode({"v": 1, "type": "new_order", "req_id": 8,
                                     "instrument": "X", "side": "buy", "qty": 4, "price": 99,
                                     "client_order_id": "n1"}))  # fmt: skip
    ev = PreTradeRejected(20, 3, "n1", Reason.INSUFFICIENT_MARGIN, 9, 1, "insufficient margin")
    [rep] = tr.reject_request(ev, new)
    assert (rep["req_id"], rep["side"], rep["order_qty"], rep["price"], rep["tif"]) == (
        8, "buy", 4, 99, "gtc")  # fmt: skip

    amend = {"v": 1, "type": "amend", "req_id": 9, "client_order_id": "q", "price": 90}
    ev = PreTradeRejected(21, 3, "q", Reason.INSUFFICIENT_MARGIN, 9, 1, "")
    [rep] = tr.reject_request(ev, amend)
    assert (rep["type"], rep["response_to"], rep["order_id"], rep["ord_status"], rep["req_id"]) == (
        "cancel_reject", "amend", 1, "0", 9)  # fmt: skip

    foreign = PreTradeRejected(22, 4, "q", Reason.UNKNOWN_ORDER, 0, 0, "")
    [rep] = tr.reject_request(foreign, {**amend, "type": "cancel"})
    assert rep["client_order_id"] == "q" and rep["order_id"] is None and rep["ord_status"] == "8"

    mass = {"v": 1, "type": "mass_cancel", "req_id": 10, "instrument": None}
    ev = RequestRejected(23, 3, "MassCancelRequest", Reason.SETTLEMENT_STOPPED, 0, 0, "")
    [rep] = tr.reject_request(ev, mass)
    assert (rep["type"], rep["ref_type"], rep["account"], rep["req_id"]) == (
        "reject", "mass_cancel", 3, 10)  # fmt: skip
    for msg in (rep,):
        P.encode(msg)


def test_request_rejected_without_context() -> None:
    tr = OrderTracker()
    [rep] = tr.apply(RequestRejected(1, 5, "CancelRequest", Reason.UNKNOWN_ORDER, 0, 0, ""))
    assert rep["type"] == "cancel_reject" and rep["cxl_rej_reason"] == 1
    [rep] = tr.apply(RequestRejected(1, 5, "Deposit", Reason.INVALID_AMOUNT, 0, 0, ""))
    assert rep["type"] == "reject" and rep["ref_type"] is None and rep["account"] == 5
    for m in (rep,):
        P.encode(m)


def test_register_a_custom_translator() -> None:
    class MarginCall(NamedTuple):
        ts: int
        account: int

    tr = OrderTracker()
    assert tr.apply(MarginCall(1, 2)) == []
    tr.register("MarginCall", lambda t, e, h: [{"type": "margin_call", "account": e.account}])
    assert tr.apply(MarginCall(1, 2)) == [{"type": "margin_call", "account": 2}]


def test_gateway_built_rejects_are_valid() -> None:
    request = {"instrument": "X", "side": "sell", "qty": 7, "price": 100, "tif": "ioc",
               "ord_type": "limit", "client_order_id": "g1"}  # fmt: skip
    rep = order_reject(9, Reason.RATE_LIMITED, ts=3, request=request,
                       figures={"retry_after_ms": 20})  # fmt: skip
    assert (rep["side"], rep["order_qty"], rep["tif"], rep["ord_rej_reason"]) == (
        "sell",
        7,
        "ioc",
        99,
    )
    rej = cancel_reject(9, Reason.UNKNOWN_ORDER, response_to=2, ts=3, order_id=77)
    assert rej["response_to"] == "amend" and rej["cxl_rej_reason"] == 1
    msg = reject_message(Reason.NOT_LOGGED_ON, ts=3, req_id=1, ref_type="new_order")
    unknown = order_reject(9, 2999, ts=3)  # a code newer than this build still travels
    assert (unknown["reason"], unknown["reason_name"]) == (2999, "UNKNOWN_REASON")
    for m in (rep, rej, msg, unknown):
        assert isinstance(P.decode_push(P.encode(m)), dict)


def test_fix_reason_maps() -> None:
    assert ord_rej_reason(Reason.DUPLICATE_CLIENT_ORDER_ID) == 6
    assert ord_rej_reason(Reason.INVALID_QUANTITY) == 13
    assert ord_rej_reason(Reason.INSTRUMENT_HALTED) == 2
    assert ord_rej_reason(Reason.MALFORMED_MESSAGE) == 99
    assert cxl_rej_reason(Reason.DUPLICATE_CLIENT_ORDER_ID) == 6
    assert cxl_rej_reason(Reason.INSTRUMENT_HALTED) == 99


def test_order_record_is_a_valid_query_item() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100, post_only=True, client_order_id="r1")
    ex.new(2, BUY, 2, 100)
    items = [ex.tracker.order_record(s) for s in ex.tracker.open_orders(1)]
    msg = {"v": 1, "type": "query_reply", "query": "orders", "ts": 1, "items": items}
    decoded = P.decode_push(P.encode(msg))
    assert isinstance(decoded, dict)
    assert decoded["items"][0]["post_only"] is True
    assert (items[0]["cum_qty"], items[0]["leaves_qty"], items[0]["ord_status"]) == (2, 3, "1")


# -- property: random flow, checked against the engine ------------------------------------
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.integers(1, 3), st.sampled_from([BUY, SELL]),
                  st.integers(97, 103), st.integers(1, 6),
                  st.sampled_from([1, 1, 1, IOC, FOK]),
                  st.sampled_from([int(m) for m in StpMode]), st.booleans()),
        st.tuples(st.just("cancel"), st.integers(1, 3), st.integers(0, 40)),
        st.tuples(st.just("amend"), st.integers(1, 3), st.integers(0, 40),
                  st.none() | st.integers(97, 103), st.none() | st.integers(1, 8)),
        st.tuples(st.just("mass"), st.integers(1, 3)),
    ),
    max_size=60,
)  # fmt: skip


class FlowChecker:
    """Runs commands through engine + tracker and checks every report as it comes out."""

    def __init__(self) -> None:
        self.ex = Exchange()
        self.owner: dict[int, int] = {}
        self.notional: dict[int, int] = defaultdict(int)
        self.last_cum: dict[int, int] = {}
        self.finished: set[int] = set()
        self.last_exec_id = 0
        self.fills = 0

    def op(self, op: tuple) -> None:
        ex = self.ex
        ex.ts += 1
        if op[0] == "new":
            _, acct, side, price, qty, tif, stp, post = op
            oid = ex.oid()
            self.owner[oid] = acct
            cmd: Any = NewOrder(ex.ts, "X", oid, acct, side, qty, price, tif=tif,
                                client_order_id=f"o{oid}" if oid % 3 else "", post_only=post,
                                stp=stp)  # fmt: skip
        elif op[0] == "cancel":
            cmd = CancelOrder(ex.ts, "X", op[2] % (ex.next_id + 1), op[1])
        elif op[0] == "amend":
            cmd = AmendOrder(ex.ts, "X", op[2] % (ex.next_id + 1), op[1], op[3], op[4])
        else:
            cmd = MassCancel(ex.ts, op[1])
        for e in ex.engine.apply(cmd):
            if isinstance(e, Fill):
                self.notional[e.taker_order_id] += e.price * e.qty
                self.notional[e.maker_order_id] += e.price * e.qty
            for rep in ex.tracker.apply(e):
                P.encode(rep)
                if rep["type"] != "exec_report":
                    continue
                assert rep["exec_id"] > self.last_exec_id
                self.last_exec_id = rep["exec_id"]
                if rep["exec_type"] != "8":
                    self.check(rep)

    def check(self, rep: dict) -> None:
        oid = rep["order_id"]
        assert rep["account"] == self.owner[oid]
        assert oid not in self.finished, "report after a terminal report"
        cum = rep["cum_qty"]
        assert cum >= self.last_cum.get(oid, 0)
        self.last_cum[oid] = cum
        assert rep["cum_notional"] == self.notional[oid]  # exact, fill by fill
        assert rep["avg_px"] == P.decimal_ratio(self.notional[oid], cum)
        self.fills += rep["exec_type"] == "F"
        if rep["ord_status"] in TERMINAL:
            assert rep["leaves_qty"] == 0
            assert rep["order_qty"] >= cum
            self.finished.add(oid)
        else:
            assert rep["order_qty"] == cum + rep["leaves_qty"]
            assert rep["leaves_qty"] > 0 or rep["exec_type"] == "D"

    def final(self) -> None:
        """The tracker holds exactly the engine's working orders, with the same numbers."""
        eng, tr = self.ex.engine, self.ex.tracker
        eng.validate()
        assert set(tr.orders) == set(eng.orders)
        for oid, order in eng.orders.items():
            s = tr.orders[oid]
            assert (s.account, s.price, s.order_qty, s.cum_qty, s.leaves_qty) == (
                order.account, order.price, order.qty, order.cum, order.leaves)  # fmt: skip
            if order.cmd.client_order_id:
                assert tr.find(order.account, order.cmd.client_order_id) is s
        with_clid = sum(1 for o in eng.orders.values() if o.cmd.client_order_id)
        assert len(tr._by_clid) == with_clid


@settings(max_examples=60, deadline=None)
@given(_ops)
def test_random_flow_keeps_fix_invariants_and_matches_the_engine(ops: list) -> None:
    flow = FlowChecker()
    for op in ops:
        flow.op(op)
    flow.final()


def test_long_seeded_flow() -> None:
    """A longer deterministic flow, dense in crossing orders, through the same checks."""
    rng = random.Random(20260101)
    flow = FlowChecker()
    stps = [int(m) for m in StpMode]
    for _ in range(2000):
        k = rng.random()
        acct = rng.randint(1, 4)
        ref = rng.randint(0, flow.ex.next_id + 5)
        if k < 0.6:
            flow.op(
                (
                    "new",
                    acct,
                    rng.choice([BUY, SELL]),
                    rng.randint(98, 102),
                    rng.randint(1, 9),
                    rng.choice([1, 1, 1, IOC, FOK]),
                    rng.choice(stps),
                    rng.random() < 0.1,
                )
            )
        elif k < 0.8:
            flow.op(("cancel", acct, ref))
        elif k < 0.98:
            flow.op(
                (
                    "amend",
                    acct,
                    ref,
                    rng.choice([None, rng.randint(98, 102)]),
                    rng.choice([None, rng.randint(1, 12)]),
                )
            )
        else:
            flow.op(("mass", acct))
    flow.final()
    assert flow.fills > 500


def test_hops_fields_are_the_wire_hop_names() -> None:
    from gateway.reports import Hops
    from gateway.schemas import HOP_FIELDS

    assert (*Hops._fields, "ts_gw_out") == HOP_FIELDS

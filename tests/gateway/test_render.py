"""Execution reports on the wire: the core's compact reports (``clearing.core.reports``)
rendered by ``gateway.render``, driven through ``clearing.pipeline`` with a real matcher.

FIX ExecType / OrdStatus / CumQty / LeavesQty / AvgPx sequences, rejects and their FIX
reason codes, cancel rejects, refusals answered in the request's own terms, hop
timestamps, and a random-flow property test against the engines' own order state. Every
rendered message is checked against the protocol on the way (``Exchange.run``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.commands import Deposit, IndexPrice, MarketHalt, MarketResume, Tick
from clearing.core import reports as rp
from clearing.core.history import History
from clearing.core.inputs import (
    AmendOrderRequest,
    CancelOrderRequest,
    GatewayUp,
    MassCancelOrders,
    PlaceOrder,
)
from clearing.engine import ClearingEngine
from clearing.events import PreTradeRejected
from clearing.pipeline import Pipeline
from gateway import protocol as P
from gateway.codec import encode
from gateway.protocol import decode_push
from gateway.reasons import Reason
from gateway.render import figures, order_record, render
from matching import BUY, SELL, AmendOrder, CancelOrder, Fill, NewOrder, OrderAccepted
from matching.enums import StpMode, TimeInForce
from tests.clearing.conftest import make_config
from tests.clearing.core.test_core import _pipe, _random_flow

HOPS = (11, 12, 13, 14, 15)
GTC, IOC, FOK, GTD = (int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK),
                      int(TimeInForce.GTD))  # fmt: skip
LIMIT = 2
TERMINAL = {"2", "4", "8", "C"}
CLR_HOPS = (2, 3, 4, 5)
"""What clearing stamps on a batch: ts_clr_in, ts_clr_out, ts_me_in, ts_me_out."""

RICH = 10**12
Y = {"kind": "perpetual", "index": "X", "contract_size": "0.000001", "tick_size": 5,
     "lot_size": 10, "min_qty": 10, "max_qty": 10_000, "imf_ppm": 100_000,
     "mmf_ppm": 50_000, "mark_band_ppm": 0}  # fmt: skip
ACCOUNTS = [{"id": a, "deposits": {"USD": RICH}} for a in (1, 2, 3, 4)] + [
    {"id": 5, "deposits": {"USD": 10_000}}
]


def wire_hops(gw_in: int, matched: bool) -> tuple:
    """The hops the gateway renders a reply with (``GatewayRole._deliver``): the
    request's edge time, clearing's, and the matcher's only if the report came from it."""
    if not gw_in:
        return (0, 0, 0, *CLR_HOPS[2:]) if matched else (0, 0, 0, 0, 0)
    return (gw_in, *CLR_HOPS) if matched else (gw_in, *CLR_HOPS[:2], 0, 0)


class Exchange:
    """Clearing and a matcher through the core; every reply rendered and checked."""

    def __init__(self, **changes: Any) -> None:
        changes.setdefault("accounts", ACCOUNTS)
        self.p = Pipeline.from_config(make_config(instruments_add={"Y": Y}, **changes))
        self.p.run([GatewayUp(0, "gw-run", 1)])
        self.gw = self.p.core.gateway_number("gw-run")
        self.ts = 0
        self.n = 0
        self.req = 0

    def run(self, *inputs: Any) -> list[dict]:
        out = []
        for account, _gw, _sid, req_id, gw_in, rep, _direct, matched in self.p.run(
            list(inputs)
        ).replies:
            msg = render(rep, wire_hops(gw_in, matched))
            msg["req_id"] = req_id
            frame = P.encode(msg)  # strict: only documented fields, right types
            assert isinstance(P.decode_push(frame), dict)
            assert msg["account"] == account
            out.append(msg)
        return out

    def tick(self) -> int:
        self.ts += 1
        self.req += 1
        return self.ts

    def new(self, account: int, side: int, qty: int, price: int | None, *,
            instrument: str = "X", tif: int = GTC, client_order_id: str | None = None,
            post_only: bool = False, stp: int = 0, expire_ts: int = 0) -> list[dict]:  # fmt: skip
        self.n += 1
        clid = client_order_id if client_order_id is not None else f"c{self.n}"
        ts = self.tick()
        return self.run(PlaceOrder(ts, self.gw, account, self.req, account, instrument, side,
                                   qty, price, LIMIT, tif, clid, post_only, False, stp,
                                   expire_ts))  # fmt: skip

    def cancel(self, account: int, order_id: int | None, clid: str | None = None) -> list[dict]:
        ts = self.tick()
        return self.run(CancelOrderRequest(ts, self.gw, account, self.req, account, None,
                                           order_id, clid))  # fmt: skip

    def amend(self, account: int, order_id: int, price: int | None = None,
              qty: int | None = None) -> list[dict]:  # fmt: skip
        ts = self.tick()
        return self.run(AmendOrderRequest(ts, self.gw, account, self.req, account, None,
                                          order_id, None, price, qty))  # fmt: skip


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
    assert 1 not in ex.p.clearing.orders and ex.p.core.open_orders(1) == []

    r = ex.cancel(1, 1)  # too late: the order is gone
    assert len(r) == 1 and r[0]["type"] == "cancel_reject"
    assert (r[0]["reason"], r[0]["cxl_rej_reason"], r[0]["ord_status"], r[0]["response_to"]) == (
        Reason.UNKNOWN_ORDER, 1, "8", "cancel")  # fmt: skip
    assert r[0]["req_id"] == ex.req


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
    assert not ex.p.clearing.orders


def test_fok_that_cannot_fill_expires_untouched() -> None:
    ex = Exchange()
    ex.new(1, SELL, 2, 100)
    r = ex.new(2, BUY, 5, 100, tif=FOK)
    assert [brief(x) for x in r] == [(2, "0", "0", 5, 0, 5, "0"), (2, "C", "C", 5, 0, 0, "0")]
    assert r[-1]["end_reason"] == "fok_not_fillable"


def test_gtd_expiry() -> None:
    ex = Exchange()
    ex.new(1, BUY, 4, 99, tif=GTD, expire_ts=50)
    r = ex.run(Tick(60))  # clearing's timer advances the matcher's clock
    assert [brief(x) for x in r] == [(1, "C", "C", 4, 0, 0, "0")]
    assert r[0]["end_reason"] == "gtd_expired" and r[0]["ts"] == 60
    assert r[0]["req_id"] is None and r[0]["ts_gw_in"] == 0


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
    assert not ex.p.clearing.orders


# -- refused orders: ExecType 8 with the FIX OrdRejReason -------------------------------
_REFUSALS = [
    # (order, reason, ord_rej_reason, reached the matcher)
    ({"price": 101, "instrument": "Y", "qty": 10}, Reason.OFF_TICK_PRICE, 99, True),
    ({"price": 100, "instrument": "Y", "qty": 15}, Reason.OFF_LOT_QUANTITY, 13, True),
    ({"price": 100, "post_only": True}, Reason.POST_ONLY_WOULD_TAKE, 11, True),
    ({"price": 100, "instrument": "Z"}, Reason.UNKNOWN_CLEARING_INSTRUMENT, 1, False),
    ({"price": 100, "instrument": "Y", "qty": 20_000}, Reason.INVALID_REQUEST, 99, False),
    ({"price": None}, Reason.INVALID_REQUEST, 99, False),
    ({"price": 100, "account": 5, "qty": 5_000}, Reason.INSUFFICIENT_MARGIN, 3, False),
]


def test_rejected_orders() -> None:
    for kw, reason, fix, matched in _REFUSALS:
        ex = Exchange()
        ex.new(2, SELL, 1, 100)
        qty, account = kw.pop("qty", 3), kw.pop("account", 1)
        r = ex.new(account, BUY, qty, kw.pop("price"), **kw)
        assert len(r) == 1, (reason, r)
        rep = r[0]
        assert (rep["exec_type"], rep["ord_status"], rep["cum_qty"], rep["leaves_qty"]) == (
            "8", "8", 0, 0)  # fmt: skip
        assert (rep["reason"], rep["reason_name"], rep["ord_rej_reason"]) == (
            reason, reason.name, fix)  # fmt: skip
        assert rep["text"] and rep["client_order_id"] == "c2" and rep["account"] == account
        assert (rep["side"], rep["order_qty"], rep["req_id"]) == ("buy", qty, ex.req)
        if matched:  # the matcher refused it: its event's seq and hops, the order id it had
            assert rep["exec_id"] > 0 and rep["ts_me_out"] == 5 and rep["order_id"] == 2
            assert 2 not in ex.p.clearing.orders  # clearing let it go
        else:  # refused before the matcher: exec_id 0, no order id, matcher hops 0
            assert (rep["exec_id"], rep["order_id"], rep["ts_me_in"], rep["ts_me_out"]) == (
                0, None, 0, 0)  # fmt: skip
            assert rep["ts_clr_out"] == 3
        assert list(ex.p.clearing.orders) == [1]


def test_pre_trade_refusal_carries_its_figures_and_the_requests_fields() -> None:
    ex = Exchange()
    r = ex.new(5, BUY, 5_000, 99, tif=GTC)
    [ev] = [o for o in ex.p.last.outputs if isinstance(o, PreTradeRejected)]
    [rep] = r
    assert (rep["exec_type"], rep["ord_status"], rep["reason"], rep["ord_rej_reason"]) == (
        "8", "8", 2001, 3)  # fmt: skip
    assert rep["figures"] == {"required": ev.required, "available": ev.available}
    assert ev.required > ev.available > 0
    assert (rep["req_id"], rep["side"], rep["order_qty"], rep["price"], rep["tif"]) == (
        ex.req, "buy", 5_000, 99, "gtc")  # fmt: skip


def test_static_band_refusal_names_its_figures() -> None:
    ex = Exchange(X={"breakers": {"static_band_ppm": 50_000}})  # mark 100: band 95..105
    [rep] = ex.new(1, BUY, 1, 110)
    assert (rep["reason"], rep["ord_rej_reason"]) == (Reason.PRICE_OUTSIDE_STATIC_BAND, 3)
    assert rep["figures"] == {"band_limit": 105, "price": 110}


# -- cancel rejects ------------------------------------------------------------------------
def test_foreign_cancel_reject_reveals_nothing() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100, client_order_id="secret")
    for r in (ex.cancel(2, 1), ex.amend(2, 1, price=99), ex.cancel(2, None, "secret")):
        assert len(r) == 1
        rej = r[0]
        assert rej["type"] == "cancel_reject" and rej["account"] == 2
        # another account's order looks exactly like an unknown one
        assert (rej["reason"], rej["cxl_rej_reason"], rej["ord_status"]) == (
            Reason.UNKNOWN_ORDER, 1, "8")  # fmt: skip
        assert rej["client_order_id"] in (None, "secret")  # only what the requester sent
    assert ex.p.clearing.orders[1].leaves == 5


def test_matcher_cancel_rejects_report_the_orders_status_and_hide_foreign_ones() -> None:
    """Clearing refuses what it can tell first (foreign or unknown orders, an amend not above
    what is filled); should the matcher refuse a cancel or amend anyway, its
    ``CancelRejected`` reports the order's current status, and hides another account's
    order (no client order id, status 8)."""
    ex = Exchange()
    ex.new(1, SELL, 5, 100, client_order_id="secret")
    ex.new(2, BUY, 2, 100)

    def reports(cmd: Any) -> list[tuple]:
        out: list = []
        for e in ex.p.matcher.apply(cmd):
            ex.p.core.reports.event(e, out)
        ex.p.core.reports.end_round()
        return [(account, direct, render(rep, HOPS)) for account, rep, direct in out]

    [(account, direct, rej)] = reports(CancelOrder(50, "X", 1, 2))
    P.encode(rej)
    assert (account, direct, rej["type"], rej["account"]) == (2, True, "cancel_reject", 2)
    assert (rej["reason"], rej["cxl_rej_reason"], rej["response_to"]) == (
        Reason.NOT_ORDER_OWNER, 99, "cancel")  # fmt: skip
    assert rej["client_order_id"] is None and rej["ord_status"] == "8"

    [(account, direct, rej)] = reports(AmendOrder(51, "X", 1, 1, None, 2))
    P.encode(rej)
    assert (account, direct, rej["response_to"], rej["reason"]) == (
        1, True, "amend", Reason.INVALID_AMEND)  # fmt: skip
    assert (rej["order_id"], rej["client_order_id"], rej["ord_status"]) == (1, "secret", "1")
    assert rej["ts_me_out"] == 15


def test_amend_reject_reports_the_orders_current_status() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100, client_order_id="mine")
    ex.new(2, BUY, 2, 100)
    r = ex.amend(1, 1, qty=2)  # not above what is filled: clearing refuses it
    assert len(r) == 1
    rej = r[0]
    assert (rej["type"], rej["response_to"], rej["ord_status"], rej["client_order_id"]) == (
        "cancel_reject", "amend", "1", "mine")  # fmt: skip
    assert (rej["reason"], rej["cxl_rej_reason"], rej["ts_me_out"]) == (
        Reason.INVALID_REQUEST, 99, 0)  # fmt: skip
    assert rej["order_id"] == 1 and rej["req_id"] == ex.req
    assert ex.p.clearing.orders[1].leaves == 3  # unchanged


def test_clearing_refusals_answer_in_the_requests_own_terms() -> None:
    ex = Exchange()
    ex.new(5, SELL, 50, 100, client_order_id="q")
    # an amend clearing refuses (margin) is a cancel_reject for that order
    [rep] = ex.amend(5, 1, qty=5_000)
    assert (rep["type"], rep["response_to"], rep["order_id"], rep["ord_status"]) == (
        "cancel_reject", "amend", 1, "0")  # fmt: skip
    assert (rep["reason"], rep["req_id"], rep["client_order_id"]) == (
        Reason.INSUFFICIENT_MARGIN, ex.req, "q")  # fmt: skip
    assert set(rep["figures"]) == {"required", "available"}
    # a cancel of an order the account does not have echoes only what it sent
    [rep] = ex.cancel(4, None, "q")
    assert rep["client_order_id"] == "q" and rep["order_id"] is None and rep["ord_status"] == "8"
    # a refused mass cancel is a reject naming the request type
    ts = ex.tick()
    [rep] = ex.run(MassCancelOrders(ts, ex.gw, 5, 10, 5, "NOPE"))
    assert (rep["type"], rep["ref_type"], rep["account"], rep["req_id"]) == (
        "reject", "mass_cancel", 5, 10)  # fmt: skip
    assert rep["reason"] == Reason.UNKNOWN_CLEARING_INSTRUMENT


def test_refusals_of_clearings_own_commands() -> None:
    ex = Exchange()
    [rep] = ex.run(Deposit(5, 5, "USD", 0))  # no request behind it: a reject, no ref_type
    assert (rep["type"], rep["ref_type"], rep["account"], rep["reason"]) == (
        "reject", None, 5, Reason.INVALID_AMOUNT)  # fmt: skip
    assert ex.run(IndexPrice(6, "X", -5)) == []  # refused, but no account to tell


# -- mass cancel, self-trade prevention, auctions -------------------------------------------
def test_mass_cancel_reports_each_order_then_the_summary() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100)
    ex.new(1, BUY, 5, 90)
    ex.new(1, SELL, 10, 105, instrument="Y")
    ex.new(2, SELL, 5, 101)
    ts = ex.tick()
    r = ex.run(MassCancelOrders(ts, ex.gw, 1, 9, 1, None))
    assert [(x["type"], x.get("order_id"), x.get("end_reason")) for x in r] == [
        ("exec_report", 1, "mass_cancel"),
        ("exec_report", 2, "mass_cancel"),
        ("exec_report", 3, "mass_cancel"),
        ("mass_cancel_report", None, "mass_cancel"),
    ]
    assert r[-1]["canceled"] == 3 and r[-1]["instrument"] is None
    assert [o.order_id for o in ex.p.core.open_orders(1)] == []
    assert [o.order_id for o in ex.p.core.open_orders(2)] == [4]


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
    assert r[1]["text"] == "self-trade prevented: quantity reduced by 3"
    resting, kept = ex.p.matcher.orders[1], ex.p.clearing.orders[1]
    assert (resting.qty, resting.leaves) == (kept.qty, kept.leaves) == (2, 2)


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
    ex = Exchange(X={"breakers": {"static_band_ppm": 50_000, "call_period_ns": 100}})
    ex.ts = 10
    ex.run(MarketHalt(10), MarketResume(11))  # every instrument reopens through a call
    ex.new(1, BUY, 5, 101)
    ex.new(2, SELL, 5, 100)
    r = ex.run(Tick(200))  # the call ends: one uncross
    fills = [x for x in r if x.get("exec_type") == "F"]
    assert [(x["order_id"], x["side"], x["liquidity"], x["ord_status"]) for x in fills] == [
        (1, "buy", "auction", "2"), (2, "sell", "auction", "2")]  # fmt: skip


def test_hops_are_copied_and_exec_ids_follow_the_matcher_seq() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100)
    ex.ts = 8
    mark = len(ex.p.matcher_events)
    reports = ex.new(2, BUY, 2, 100, client_order_id="z")
    events = ex.p.matcher_events[mark:]
    fill = next(e for e in events if isinstance(e, Fill))
    accepted = next(e for e in events if isinstance(e, OrderAccepted))
    assert [r["exec_id"] for r in reports] == [2 * accepted.seq, 2 * fill.seq, 2 * fill.seq + 1]
    for r in reports:  # the maker's report carries the hops of the taker's request
        assert [r[k] for k in P.HOP_FIELDS] == [9, *CLR_HOPS, 0]
        assert r["ts"] == 9


def test_orders_clearing_does_not_know_are_reported_from_the_event_alone() -> None:
    """``ReportBuilder`` rule 1: an order missing from clearing (it never should be) still
    gets its reports, with what the event says: side unknown on an amend, ``avg_px`` and
    ``cum_notional`` nil (its earlier fills are unknown)."""
    ex = Exchange()
    ex.new(1, SELL, 5, 100)
    ex.new(1, SELL, 5, 105)
    blind = rp.ReportBuilder(ClearingEngine(ex.p.core.config), History())

    def reports(cmd: Any) -> list[dict]:
        out: list = []
        for e in ex.p.matcher.apply(cmd):
            blind.event(e, out)
        blind.end_round()
        msgs = [render(rep, HOPS) for _, rep, _ in out]
        for m in msgs:
            P.encode(m)
        return msgs

    r = reports(AmendOrder(20, "X", 2, 1, None, 4))
    assert brief(r[0]) == (2, "5", "0", 4, 0, 4, None) and r[0]["side"] is None
    r = reports(NewOrder(21, "X", 50, 2, BUY, 2, 100, client_order_id="z"))
    maker = next(x for x in r if x["order_id"] == 1)
    assert brief(maker) == (1, "F", "1", 5, 2, 3, None)
    assert maker["cum_notional"] is None and maker["side"] == "sell"
    r = reports(CancelOrder(22, "X", 1, 1))
    assert brief(r[0]) == (1, "4", "4", 5, 2, 0, None)


def test_order_record_is_a_valid_query_item() -> None:
    ex = Exchange()
    ex.new(1, SELL, 5, 100, post_only=True, client_order_id="r1")
    ex.new(2, BUY, 2, 100)
    items = [order_record(o) for o in ex.p.core.open_orders(1)]
    msg = {"v": 1, "type": "query_reply", "query": "orders", "ts": 1, "items": items}
    decoded = P.decode_push(P.encode(msg))
    assert isinstance(decoded, dict)
    assert decoded["items"][0]["post_only"] is True
    assert (items[0]["cum_qty"], items[0]["leaves_qty"], items[0]["ord_status"]) == (2, 3, "1")
    assert (items[0]["client_order_id"], items[0]["avg_px"]) == ("r1", "100")


# -- every report of a random flow --------------------------------------------------------
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


# -- property: random flow, checked against the engines -----------------------------------
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.integers(1, 3), st.sampled_from([BUY, SELL]),
                  st.integers(97, 103), st.integers(1, 6),
                  st.sampled_from([GTC, GTC, GTC, IOC, FOK]),
                  st.sampled_from([int(m) for m in StpMode]), st.booleans()),
        st.tuples(st.just("cancel"), st.integers(1, 3), st.integers(0, 40)),
        st.tuples(st.just("amend"), st.integers(1, 3), st.integers(0, 40),
                  st.none() | st.integers(97, 103), st.none() | st.integers(1, 8)),
        st.tuples(st.just("mass"), st.integers(1, 3)),
    ),
    max_size=60,
)  # fmt: skip


class FlowChecker:
    """Runs requests through the core and checks every rendered report as it comes out."""

    def __init__(self) -> None:
        self.ex = Exchange()
        self.owner: dict[str, int] = {}
        self.notional: dict[int, int] = defaultdict(int)
        self.last_cum: dict[int, int] = {}
        self.finished: set[int] = set()
        self.last_exec_id = 0
        self.fills = 0

    def op(self, op: tuple) -> None:
        ex = self.ex
        if op[0] == "new":
            _, acct, side, price, qty, tif, stp, post = op
            self.owner[f"c{ex.n + 1}"] = acct
            reports = ex.new(acct, side, qty, price, tif=tif, post_only=post, stp=stp)
        elif op[0] == "cancel":
            reports = ex.cancel(op[1], op[2])
        elif op[0] == "amend":
            reports = ex.amend(op[1], op[2], op[3], op[4])
        else:
            ts = ex.tick()
            reports = ex.run(MassCancelOrders(ts, ex.gw, op[1], ex.req, op[1], None))
        for rep in reports:
            if rep["type"] != "exec_report" or rep["exec_type"] == "8":
                continue
            assert rep["exec_id"] > self.last_exec_id
            self.last_exec_id = rep["exec_id"]
            self.check(rep)

    def check(self, rep: dict) -> None:
        oid = rep["order_id"]
        assert rep["account"] == self.owner[rep["client_order_id"]]
        assert oid not in self.finished, "report after a terminal report"
        cum = rep["cum_qty"]
        assert cum >= self.last_cum.get(oid, 0)
        self.last_cum[oid] = cum
        if rep["exec_type"] == "F":
            self.fills += 1
            self.notional[oid] += rep["last_px"] * rep["last_qty"]
        assert rep["cum_notional"] == self.notional[oid]  # exact, fill by fill
        assert rep["avg_px"] == P.decimal_ratio(self.notional[oid], cum)
        if rep["ord_status"] in TERMINAL:
            assert rep["leaves_qty"] == 0
            assert rep["order_qty"] >= cum
            self.finished.add(oid)
        else:
            assert rep["order_qty"] == cum + rep["leaves_qty"]
            assert rep["leaves_qty"] > 0 or rep["exec_type"] == "D"

    def final(self) -> None:
        """Clearing holds exactly the matcher's working orders, with the same numbers, and
        the reports' notionals are the matcher's fills."""
        p = self.ex.p
        p.matcher.validate()
        p.clearing.validate()
        assert set(p.clearing.orders) == set(p.matcher.orders)
        for oid, order in p.matcher.orders.items():
            o = p.clearing.orders[oid]
            assert (o.account, o.price, o.qty, o.cum, o.leaves) == (
                order.account, order.price, order.qty, order.cum, order.leaves)  # fmt: skip
            assert p.core.sessions.order_id_of(o.account, o.client_order_id) == oid
        traded: dict[int, int] = defaultdict(int)
        for e in p.matcher_events:
            if isinstance(e, Fill):
                traded[e.taker_order_id] += e.price * e.qty
                traded[e.maker_order_id] += e.price * e.qty
        assert traded == {k: v for k, v in self.notional.items() if v}


@settings(max_examples=60, deadline=None)
@given(_ops)
def test_random_flow_keeps_fix_invariants_and_matches_the_engines(ops: list) -> None:
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
        ref = rng.randint(0, flow.ex.n + 5)
        if k < 0.6:
            flow.op(("new", acct, rng.choice([BUY, SELL]), rng.randint(98, 102),
                     rng.randint(1, 9), rng.choice([GTC, GTC, GTC, IOC, FOK]),
                     rng.choice(stps), rng.random() < 0.1))  # fmt: skip
        elif k < 0.8:
            flow.op(("cancel", acct, ref))
        elif k < 0.98:
            flow.op(("amend", acct, ref, rng.choice([None, rng.randint(98, 102)]),
                     rng.choice([None, rng.randint(1, 12)])))  # fmt: skip
        else:
            flow.op(("mass", acct))
    flow.final()
    assert flow.fills > 500

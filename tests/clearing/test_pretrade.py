"""Admission: worked numbers (fees, boundary, risk-reducing), reduce-only, bands, bad input."""

from __future__ import annotations

import pytest

from clearing.commands import (
    AmendRequest,
    CancelRequest,
    Deposit,
    MarketHalt,
    OrderRequest,
    Tick,
    Withdraw,
)
from clearing.events import OrderAdmitted, PreTradeRejected, RequestRejected
from clearing.pipeline import Pipeline
from matching.commands import CancelOrder, NewOrder
from matching.reasons import Reason
from tests.clearing.conftest import make_config
from tests.clearing.helpers import index, of, order, trade


def rejected(out: list) -> PreTradeRejected:
    found = of(out, PreTradeRejected)
    assert len(found) == 1, out
    return found[0]


def test_boundary_equity_equals_requirement() -> None:
    # equity 10,000; 1,000 @ 100 (multiplier 1) -> notional 100,000 -> IM 10 % = 10,000
    p = Pipeline.from_config(make_config())
    out = p.submit(order(1, 1, 1, 1_000, 100))
    assert of(out, OrderAdmitted)[0].hold == 10_000
    assert p.clearing.account_summary(1)["free_collateral"] == 0
    r = rejected(p.submit(order(2, 2, 1, 1_001, 100)))
    assert (r.reason, r.required, r.available) == (Reason.INSUFFICIENT_MARGIN, 10_010, 10_000)


def test_fee_is_part_of_admission() -> None:
    p = Pipeline.from_config(make_config(X={"taker_fee_ppm": 500}))
    # 1,000 @ 100: IM 10,000 + fee ceil(100,000 * 0.05 %) = 50 -> 10,050 > 10,000
    r = rejected(p.submit(order(1, 1, 1, 1_000, 100)))
    assert (r.required, r.available) == (10_050, 10_000)
    # 995 @ 100: IM 9,950 + fee ceil(49.75) = 50 -> exactly 10,000
    assert of(p.submit(order(2, 1, 1, 995, 100)), OrderAdmitted)[0].hold == 10_000


def test_post_only_reserves_no_taker_fee_and_no_rebate() -> None:
    p = Pipeline.from_config(make_config(X={"taker_fee_ppm": 500, "maker_fee_ppm": -100}))
    assert of(p.submit(order(1, 1, 1, 1_000, 100, post_only=True)), OrderAdmitted)


def test_open_loss_of_a_buy_above_mark() -> None:
    p = Pipeline.from_config(make_config())
    # buy 900 @ 101 at mark 100: IM(90,000) = 9,000 + open loss 900 = 9,900 <= 10,000
    assert of(p.submit(order(1, 1, 1, 900, 101)), OrderAdmitted)[0].hold == 9_900
    # buy 900 @ 102: 9,000 + 1,800 = 10,800 > 10,000
    assert rejected(p.submit(order(2, 2, 1, 900, 102))).required == 10_800


def test_resting_orders_worse_side_only() -> None:
    p = Pipeline.from_config(make_config())
    assert of(p.submit(order(1, 1, 1, 1_000, 100)), OrderAdmitted)
    # a sell on the other side does not add: worse side is still the buys
    out = p.submit(order(2, 1, -1, 1_000, 101))
    assert of(out, OrderAdmitted)[0].hold == 0
    assert rejected(p.submit(order(3, 1, 1, 1, 100))).required == 10_010


def test_below_im_account_may_only_reduce_risk() -> None:
    p = Pipeline.from_config(make_config())
    trade(p, 1, buyer=1, seller=3, qty=1_000, price=100)
    index(p, 2, 95)  # mark 95: E = 10,000 - 5,000 = 5,000; IM 9,500; MM 4,750
    s = p.clearing.account_summary(1)
    assert (s["equity"], s["initial_margin"], s["maintenance_margin"]) == (5_000, 9_500, 4_750)
    # more risk: refused
    assert rejected(p.submit(order(3, 1, 1, 10, 95))).reason == Reason.INSUFFICIENT_MARGIN
    # sell 500 @ 89: open loss 3,000 -> E/MM 2,000/2,375 < 5,000/4,750: refused
    assert rejected(p.submit(order(4, 1, -1, 500, 89))).reason == Reason.INSUFFICIENT_MARGIN
    # sell 500 @ 90: E/MM 2,500/2,375 equals 5,000/4,750 exactly: allowed
    assert of(p.submit(order(5, 1, -1, 500, 90)), OrderAdmitted)


def test_reduce_only() -> None:
    p = Pipeline.from_config(make_config())
    trade(p, 1, buyer=1, seller=3, qty=100, price=100)
    r = rejected(p.submit(order(2, 1, 1, 10, 100, reduce_only=True)))
    assert r.reason == Reason.REDUCE_ONLY_WOULD_INCREASE
    assert of(p.submit(order(3, 1, -1, 60, 105, reduce_only=True)), OrderAdmitted)
    r = rejected(p.submit(order(4, 1, -1, 41, 105, reduce_only=True)))
    assert (r.reason, r.required, r.available) == (Reason.REDUCE_ONLY_WOULD_INCREASE, 101, 100)
    assert of(p.submit(order(5, 1, -1, 40, 105, reduce_only=True)), OrderAdmitted)


def test_static_band_from_the_breakers() -> None:
    p = Pipeline.from_config(make_config(X={"breakers": {"static_band_ppm": 50_000}}))
    r = rejected(p.submit(order(1, 1, 1, 1, 106)))
    assert (r.reason, r.required, r.available) == (Reason.PRICE_OUTSIDE_STATIC_BAND, 105, 106)
    r = rejected(p.submit(order(2, 1, -1, 1, 94)))
    assert (r.reason, r.required) == (Reason.PRICE_OUTSIDE_STATIC_BAND, 95)
    assert of(p.submit(order(3, 1, 1, 1, 105)), OrderAdmitted)


def test_halt_rejects_orders_and_amends_but_not_cancels() -> None:
    p = Pipeline.from_config(make_config())
    oid = of(p.submit(order(1, 1, 1, 10, 99)), OrderAdmitted)[0].order_id
    p.submit(MarketHalt(2))
    assert rejected(p.submit(order(3, 1, 1, 10, 99))).reason == Reason.MARKET_HALTED
    assert rejected(p.submit(AmendRequest(4, 1, "X", oid, 98))).reason == Reason.MARKET_HALTED
    out = p.submit(CancelRequest(5, 1, "X", oid))
    assert of(out, CancelOrder)
    assert p.clearing.account_summary(1)["held"] == 0


def test_amend_up_checks_margin_and_down_releases() -> None:
    p = Pipeline.from_config(make_config())
    oid = of(p.submit(order(1, 1, 1, 500, 99)), OrderAdmitted)[0].order_id
    assert p.clearing.account_summary(1)["held"] == 5_000
    r = rejected(p.submit(AmendRequest(2, 1, "X", oid, qty=1_100)))
    assert r.reason == Reason.INSUFFICIENT_MARGIN
    assert p.clearing.account_summary(1)["held"] == 5_000
    p.submit(AmendRequest(3, 1, "X", oid, qty=250))
    assert p.clearing.account_summary(1)["held"] == 2_500
    p.clearing.validate()


BAD = [
    (order(1, 99, 1, 1, 100), Reason.UNKNOWN_ACCOUNT),
    (order(1, 1, 1, 1, 100, symbol="NOPE"), Reason.UNKNOWN_CLEARING_INSTRUMENT),
    (order(1, 1, 1, -5, 100), Reason.INVALID_REQUEST),
    (order(1, 1, 1, 10**12, 100), Reason.INVALID_REQUEST),
    (order(1, 1, 1, 1, "100"), Reason.INVALID_REQUEST),
    (order(1, 1, 2, 1, 100), Reason.INVALID_REQUEST),
    (order(1, 1, True, 1, 100), Reason.INVALID_REQUEST),
    (order(1, 1, 1, 1, None), Reason.INVALID_REQUEST),
    (order(1, "1", 1, 1, 100), Reason.UNKNOWN_ACCOUNT),
    (order(1, 1, 1, 1, 100, reduce_only="yes"), Reason.INVALID_REQUEST),
    (OrderRequest(1, 1, "X", 1, 1, 1 << 60), Reason.INVALID_REQUEST),
    (Deposit(1, 1, "DOGE", 5), Reason.UNKNOWN_ASSET),
    (Deposit(1, 77, "USD", 5), Reason.UNKNOWN_ACCOUNT),
    (Deposit(1, 1, "USD", -5), Reason.INVALID_AMOUNT),
    (Deposit(1, 1, "USD", 10**18), Reason.INVALID_AMOUNT),
    (Deposit(1, 1, "USD", 5.0), Reason.INVALID_AMOUNT),
    (Withdraw(1, 1, "USD", 10_001), Reason.INSUFFICIENT_COLLATERAL),
    (Withdraw(1, 1, "BTC", 1), Reason.INSUFFICIENT_COLLATERAL),
    (CancelRequest(1, 1, "X", 12345), Reason.UNKNOWN_CLEARING_ORDER),
]


@pytest.mark.parametrize(("cmd", "reason"), BAD)
def test_bad_commands_are_rejected_and_change_nothing(cmd: object, reason: Reason) -> None:
    p = Pipeline.from_config(make_config())
    p.submit(Tick(1))
    before = p.clearing.export_state()
    out = p.submit(cmd)
    rej = of(out, PreTradeRejected) + of(out, RequestRejected)
    assert [r.reason for r in rej] == [reason]
    assert not of(out, NewOrder)
    after = p.clearing.export_state()
    after["engine"]["reject_counts"] = before["engine"]["reject_counts"]
    assert after == before


def test_withdrawal_below_initial_margin_is_refused() -> None:
    p = Pipeline.from_config(make_config())
    trade(p, 1, buyer=1, seller=3, qty=500, price=100)  # IM 5,000 of equity 10,000
    r = of(p.submit(Withdraw(2, 1, "USD", 5_001)), RequestRejected)[0]
    assert (r.reason, r.required, r.available) == (Reason.INSUFFICIENT_COLLATERAL, 5_000, 4_999)
    out = p.submit(Withdraw(3, 1, "USD", 5_000))
    assert not of(out, RequestRejected)
    p.clearing.validate()


def test_position_limit() -> None:
    p = Pipeline.from_config(make_config(X={"max_position_notional": 50_000}))
    r = rejected(p.submit(order(1, 3, 1, 501, 100)))
    assert (r.reason, r.required, r.available) == (Reason.POSITION_LIMIT_EXCEEDED, 50_100, 50_000)


def _below_im_two_instruments() -> Pipeline:
    """Account 1: long X (IMF 20 % / MMF 2 %) and long Y (IMF 10 % / MMF 9 %), X down 5 %.

    X 1,000 @ 100 and Y 500 @ 100 with equity 25,000 = IM. Index X -> 95: E = 20,000,
    IM = 19,000 + 5,000 = 24,000, MM = 1,900 + 4,500 = 6,400 (below IM, above MM).
    """
    y = {"kind": "perpetual", "index": "Y", "contract_size": "0.000001", "imf_ppm": 100_000,
         "mmf_ppm": 90_000, "maker_fee_ppm": 0, "taker_fee_ppm": 0, "max_qty": 1_000_000,
         "mark_band_ppm": 0}  # fmt: skip
    cfg = make_config(X={"imf_ppm": 200_000, "mmf_ppm": 20_000}, instruments_add={"Y": y},
                      indices={"Y": 100})  # fmt: skip
    p = Pipeline.from_config(cfg)
    p.submit(Deposit(1, 1, "USD", 15_000))
    trade(p, 2, buyer=1, seller=3, qty=1_000, price=100)
    trade(p, 3, buyer=1, seller=3, qty=500, price=100, symbol="Y")
    index(p, 4, 95)
    s = p.clearing.account_summary(1)
    assert (s["equity"], s["initial_margin"], s["maintenance_margin"]) == (20_000, 24_000, 6_400)
    return p


def test_below_im_order_restoring_im_is_admitted_even_if_e_over_mm_falls() -> None:
    p = _below_im_two_instruments()
    # sell all X at 88, 7 under the mark: open loss 7,000 -> E' = 13,000 >= IM' = 5,000
    # (Y alone), although E/MM falls from 20,000/6,400 to 13,000/4,500
    out = p.submit(order(5, 1, -1, 1_000, 88))
    assert of(out, OrderAdmitted), out
    assert not of(out, PreTradeRejected)


def test_below_im_partial_sale_restoring_im_is_admitted() -> None:
    p = _below_im_two_instruments()
    # sell 600 X at 88: open loss 4,200 -> E' = 15,800 >= IM' = 400 x 95 x 20 % + 5,000
    # = 12,600, although E/MM falls (15,800 / 5,260 < 20,000 / 6,400)
    assert of(p.submit(order(5, 1, -1, 600, 88)), OrderAdmitted)


def test_below_im_order_neither_restoring_im_nor_reducing_risk_is_refused() -> None:
    p = _below_im_two_instruments()
    # selling 100 X at 60: E' = 20,000 - 3,500 = 16,500 < IM' = 900 x 95 x 20 % + 5,000
    # = 22,100, and E/MM falls (16,500 / 6,210 < 20,000 / 6,400): refused
    r = rejected(p.submit(order(5, 1, -1, 100, 60)))
    assert r.reason == Reason.INSUFFICIENT_MARGIN
    # a small reduction at the mark still passes the risk-reducing rule (E/MM rises)
    assert of(p.submit(order(6, 1, -1, 100, 95)), OrderAdmitted)

"""Deposits and withdrawals: collateral with haircut counts; withdrawals keep E >= REQ."""

from __future__ import annotations

from clearing.commands import Deposit, IndexPrice, OpenAccount, Withdraw
from clearing.events import AccountOpened, Deposited, RequestRejected, Withdrawn
from clearing.pipeline import Pipeline
from matching.reasons import Reason
from tests.clearing.conftest import make_config
from tests.clearing.helpers import of, trade


def test_btc_collateral_backs_positions() -> None:
    p = Pipeline.from_config(make_config())
    c = p.clearing
    assert of(p.submit(OpenAccount(1, 9)), AccountOpened)
    assert of(p.submit(OpenAccount(1, 9)), RequestRejected)[0].reason == Reason.ACCOUNT_EXISTS
    # 0.0001 BTC at index 50,000 (whole USD, 0 index decimals): 5 USD... in minor units:
    # 10,000 sat x 50,000 x 10^(6-8-0) = 5,000,000; less 10 % = 4,500,000
    out = p.submit(Deposit(2, 9, "BTC", 10_000))
    assert of(out, Deposited)[0].balance == 10_000
    assert c.account_summary(9)["equity"] == 4_500_000
    p.submit(IndexPrice(3, "BTC", 40_000))
    assert c.account_summary(9)["equity"] == 3_600_000
    trade(p, 4, buyer=9, seller=3, qty=30_000, price=100)  # IM 300,000
    rej = of(p.submit(Withdraw(5, 9, "BTC", 10_000)), RequestRejected)[0]
    assert rej.reason == Reason.INSUFFICIENT_COLLATERAL
    assert of(p.submit(Withdraw(6, 9, "BTC", 9_000)), Withdrawn)[0].balance == 1_000
    c.validate()

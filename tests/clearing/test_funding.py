"""Funding: worked premium/rate/payment, clamp, residue to the insurance fund."""

from __future__ import annotations

from clearing.commands import Tick
from clearing.events import FundingApplied
from clearing.funding import interval_rate
from clearing.pipeline import Pipeline
from tests.clearing.conftest import make_config
from tests.clearing.helpers import of, order, trade

H = 3_600_000_000_000
M = 60_000_000_000


def test_interval_rate_convention_and_clamp() -> None:
    assert interval_rate(10_000, H, 0, 37_500) == 1_250  # 1 % per 8 h -> 0.125 % per hour
    assert interval_rate(10_000, H, 100, 37_500) == 1_350
    assert interval_rate(1_000_000, H, 0, 37_500) == 37_500
    assert interval_rate(-1_000_000, H, 0, 37_500) == -37_500


def test_funding_worked_payment() -> None:
    p = Pipeline.from_config(make_config(X={"impact_notional": 100}))
    p.submit(Tick(1))
    trade(p, 2, buyer=1, seller=3, qty=1_000, price=100)
    p.submit(order(3, 2, 1, 10, 101))  # impact bid 101
    p.submit(order(3, 3, -1, 10, 102))  # impact ask 102 -> premium (1 - 0)/100 = 10,000 ppm
    c = p.clearing
    cash1, cash3 = c.accounts[1].balances["USD"], c.accounts[3].balances["USD"]
    out = p.submit(Tick(H + 1))
    f = of(out, FundingApplied)[0]
    # rate 10,000 x 1 h / 8 h = 1,250 ppm; delta = 1,250 x 100 x 1 x 1,000 (1e-9 units)
    assert (f.rate_ppm, f.index_delta, f.accounts, f.residue) == (1_250, 125_000_000, 2, 0)
    assert c.accounts[1].balances["USD"] == cash1 - 125  # long pays 1,000 x 100 x 0.125 %
    assert c.accounts[3].balances["USD"] == cash3 + 125
    assert c.accounts[1].positions["X"].funding_paid == 125
    c.validate()


def test_residue_goes_to_the_insurance_fund() -> None:
    p = Pipeline.from_config(make_config(X={"impact_notional": 100, "funding_cap_ppm": 7}))
    p.submit(Tick(1))
    trade(p, 2, buyer=1, seller=3, qty=3, price=100)
    p.submit(order(3, 2, 1, 10, 101))
    p.submit(order(3, 3, -1, 10, 102))
    fund = p.clearing.insurance_fund["USD"]
    f = of(p.submit(Tick(H + 1)), FundingApplied)[0]
    # rate capped at 7 ppm: 3 x 100 x 7e-6 = 0.0021 each way; long pays ceil = 1,
    # short receives ceil(-0.0021) = 0 -> residue 1 to the fund
    assert f.rate_ppm == 7 and f.residue == 1
    assert p.clearing.insurance_fund["USD"] == fund + 1
    p.clearing.validate()

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


def _one_third_percent_premium(qty: int = 100_000) -> Pipeline:
    """Index 300, impact bid 301: premium 1/300 (3,333.3 ppm) in every sample."""
    from clearing.commands import Deposit, IndexPrice

    p = Pipeline.from_config(make_config(X={"impact_notional": 100}))
    p.submit(Deposit(0, 1, "USD", 10**9))
    p.submit(Deposit(0, 3, "USD", 10**9))
    p.submit(IndexPrice(0, "X", 300))
    p.submit(Tick(1))
    trade(p, 2, buyer=1, seller=3, qty=qty, price=300)
    p.submit(order(3, 2, 1, 10, 301))
    p.submit(order(3, 2, -1, 10, 302))
    return p


def test_rate_is_carried_exactly_until_the_payment() -> None:
    p = _one_third_percent_premium()
    c = p.clearing
    cash1, cash3 = c.accounts[1].balances["USD"], c.accounts[3].balances["USD"]
    f = of(p.submit(Tick(H + 1)), FundingApplied)[0]
    # exact hourly rate 1/300 / 8 = 1/2,400 on 100,000 x 300 = 30,000,000: 12,500 exactly;
    # a rate floored to whole ppm (416) would have charged the long 12,480
    assert c.accounts[1].balances["USD"] == cash1 - 12_500
    assert c.accounts[3].balances["USD"] == cash3 + 12_500
    assert (f.rate_ppm, f.rate_ppb, f.residue) == (416, 416_666, 0)
    c.validate()


def test_each_payment_is_rounded_against_the_payer() -> None:
    p = _one_third_percent_premium(100_007)  # 30,002,100 notional
    c = p.clearing
    cash1, cash3 = c.accounts[1].balances["USD"], c.accounts[3].balances["USD"]
    fund = c.insurance_fund["USD"]
    f = of(p.submit(Tick(H + 1)), FundingApplied)[0]
    # 30,002,100 / 2,400 = 12,500.875: the long pays 12,501, the short receives 12,500
    assert c.accounts[1].balances["USD"] == cash1 - 12_501
    assert c.accounts[3].balances["USD"] == cash3 + 12_500
    assert f.residue == 1 and c.insurance_fund["USD"] == fund + 1
    c.validate()


def test_negative_rate_short_pays_rounded_up() -> None:
    from clearing.commands import Deposit, IndexPrice

    p = Pipeline.from_config(make_config(X={"impact_notional": 100}))
    p.submit(Deposit(0, 1, "USD", 10**9))
    p.submit(Deposit(0, 3, "USD", 10**9))
    p.submit(IndexPrice(0, "X", 300))
    p.submit(Tick(1))
    trade(p, 2, buyer=1, seller=3, qty=100_007, price=300)
    p.submit(order(3, 2, -1, 10, 299))  # impact ask 299: premium -1/300
    p.submit(order(3, 2, 1, 10, 298))
    c = p.clearing
    cash1, cash3 = c.accounts[1].balances["USD"], c.accounts[3].balances["USD"]
    p.submit(Tick(H + 1))
    assert c.accounts[3].balances["USD"] == cash3 - 12_501  # the short pays, rounded up
    assert c.accounts[1].balances["USD"] == cash1 + 12_500  # the long receives, rounded down
    c.validate()


def test_funding_samples_stay_bounded_integers_in_a_snapshot() -> None:
    """An hour of samples at ever-changing indices: exact, yet a snapshot can hold it."""
    from clearing.commands import Deposit, IndexPrice
    from clearing.engine import ClearingEngine
    from clearing.snapshot import ZERO_ROOT, build_snapshot, verify_snapshot

    p = Pipeline.from_config(make_config(X={"impact_notional": 100}))
    p.submit(Deposit(0, 1, "USD", 10**9))
    p.submit(Tick(1))
    trade(p, 2, buyer=1, seller=3, qty=1_000, price=100)
    p.submit(order(3, 2, 1, 10, 103))
    primes = [97, 101, 103, 107, 109, 113, 127, 131, 137, 139]
    for k in range(59):
        p.submit(IndexPrice(M * (k + 1) + 5, "X", primes[k % 10]))
    c = p.clearing
    state = c.export_state()
    samples = state["engine"]["instruments"]["X"]["funding"]["samples"]
    assert len(samples) >= 10 and all(abs(v) < 1 << 63 for s in samples for v in s)
    assert verify_snapshot(build_snapshot(state, ZERO_ROOT)).ok
    again = ClearingEngine.from_state(c.config, state)
    f1 = of(c.apply(Tick(H + 1)), FundingApplied)[0]
    f2 = of(again.apply(Tick(H + 1)), FundingApplied)[0]
    assert f1 == f2 and again.state_hash() == c.state_hash()


def test_a_funding_state_written_before_exact_samples_still_restores() -> None:
    from clearing.funding import FundingState

    old = {"index": 5, "last_rate": 416, "next_funding": 7, "next_sample": 3,
           "sample_count": 3, "sample_sum": 10_001}  # fmt: skip
    f = FundingState.restore(old)
    assert f.last_rate == 416_000
    total = sum(n * 1_000_000 * c / i for n, i, c in f.samples)
    assert (total, sum(c for *_, c in f.samples)) == (10_001, 3)

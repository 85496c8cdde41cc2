"""Instrument arithmetic: fees (rebates rounded down), the reserved fee rate."""

from __future__ import annotations

from clearing.instruments import trade_fee, worst_fee_ppm
from tests.clearing.conftest import make_config


def test_trade_fee_rounding() -> None:
    assert trade_fee(100_001, 500) == 51  # 50.0005 rounds up
    assert trade_fee(100_001, -100) == -10  # rebate 10.0001 rounds down
    assert trade_fee(0, 500) == 0


def test_worst_fee_rate() -> None:
    spec = make_config(X={"taker_fee_ppm": 500, "maker_fee_ppm": -100}).instruments["X"]
    assert worst_fee_ppm(spec, post_only=False) == 500
    assert worst_fee_ppm(spec, post_only=True) == 0
    assert spec.notional(-3, 7) == 21 and spec.multiplier == 1

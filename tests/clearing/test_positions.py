"""Trade arithmetic: cost basis, realised PnL, flips; rounding against the account."""

from __future__ import annotations

from clearing.positions import apply_trade


def test_open_add_reduce_close_flip() -> None:
    assert apply_trade(0, 0, 10, 100, 1) == (10, 1_000, 0)
    assert apply_trade(10, 1_000, 10, 110, 1) == (20, 2_100, 0)  # average 105
    assert apply_trade(20, 2_100, -5, 120, 1) == (15, 1_575, 75)  # 5 x (120 - 105)
    assert apply_trade(15, 1_575, -15, 100, 1) == (0, 0, -75)
    assert apply_trade(10, 1_000, -15, 90, 1) == (-5, -450, -100)  # flip: new short at 90
    # short 10 at 50 (m 2), buy back 4 at 80: realised 4 x (50 - 80) x 2
    assert apply_trade(-10, -1_000, 4, 80, 2) == (-6, -600, -240)


def test_partial_close_rounds_cost_removed_up() -> None:
    # long 3 at cost 100 (33.33 each); close 1: remove ceil(33.33) = 34 -> realised 50 - 34
    assert apply_trade(3, 100, -1, 50, 1) == (2, 66, 16)

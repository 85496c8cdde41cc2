"""Collateral valuation: index less haircut, rounded down; settlement asset at face value."""

from __future__ import annotations

from clearing.assets import AssetSpec


def test_btc_collateral_worked() -> None:
    btc = AssetSpec("BTC", 8, "BTC", index_decimals=1, haircut_ppm=100_000, settle_decimals=6)
    # 1 BTC at 50,000.0 (index 500,000 in 0.1 USD): 50,000 USD less 10 % = 45,000 USD
    assert btc.value(100_000_000, 500_000) == 45_000_000_000
    # 1 satoshi at 50,000: 0.0005 USD = 500 minor units, less 10 % = 450
    assert btc.value(1, 500_000) == 450
    assert btc.value(3, 1) == 0  # 3e-8 BTC at 0.1 USD rounds down to nothing
    assert btc.value(100, None) == 0  # no index yet: counts as zero


def test_settlement_asset_at_face_value() -> None:
    usd = AssetSpec("USD", 6)
    assert usd.value(-5, None) == -5 and usd.value(7, 123) == 7

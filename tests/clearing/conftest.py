"""Fixtures for clearing tests: a small config with round numbers and a pipeline builder."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from clearing.config import ClearingConfig, parse_config
from clearing.pipeline import Pipeline

# One perpetual "X" priced in whole USD (price_decimals 0) with contract_size "0.000001",
# so the multiplier is 1: notional in minor units = qty * price. IMF 10 %, MMF 5 %.
BASE: dict[str, Any] = {
    "clearing": {"settlement_asset": "USD", "insurance_fund": 1_000_000,
                 "margin_call_ratio_ppm": 1_500_000, "liquidation_fee_ppm": 10_000},
    "assets": {"USD": {"decimals": 6},
               "BTC": {"decimals": 8, "index": "BTC", "index_decimals": 0,
                       "haircut_ppm": 100_000}},
    "indices": {"X": 100, "BTC": 50_000},
    "instruments": {
        "X": {"kind": "perpetual", "index": "X", "contract_size": "0.000001",
              "imf_ppm": 100_000, "mmf_ppm": 50_000, "maker_fee_ppm": 0, "taker_fee_ppm": 0,
              "max_qty": 1_000_000, "mark_band_ppm": 0},
    },
    "accounts": [{"id": 1, "deposits": {"USD": 10_000}}, {"id": 2, "deposits": {"USD": 10_000}},
                 {"id": 3, "deposits": {"USD": 1_000_000}}],
}  # fmt: skip


def make_config(**changes: Any) -> ClearingConfig:
    """BASE with nested overrides: ``make_config(X={"taker_fee_ppm": 500})``."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key in data["instruments"]:
            data["instruments"][key].update(value)
            for k in [k for k, v in value.items() if v is None]:
                del data["instruments"][key][k]
        elif key == "instruments_add":
            data["instruments"].update(value)
        else:
            if isinstance(data.get(key), dict):
                data[key].update(value)
            else:
                data[key] = value
    return parse_config(data)


@pytest.fixture
def config() -> ClearingConfig:
    return make_config()


@pytest.fixture
def pipe(config: ClearingConfig) -> Pipeline:
    return Pipeline.from_config(config)

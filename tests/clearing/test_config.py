"""Config loading: the documented example loads; bad values are refused by key name."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearing.config import ConfigError, load_config
from tests.clearing.conftest import make_config

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "clearing.toml"


def test_example_loads_with_derived_figures() -> None:
    cfg = load_config(EXAMPLE)
    btc = cfg.instruments["BTC-PERP"]
    assert btc.multiplier == 100  # 0.001 BTC per unit, price unit 0.1 USD, USD 6 decimals
    assert [t.imf_ppm for t in btc.tiers] == [100_000, 200_000]
    assert cfg.instruments["BTC-20270326"].kind == "future"
    assert {a.id for a in cfg.accounts} == {1, 2, 3, 4}
    assert cfg.risk.insurance_fund == 100_000_000_000
    assert "BTC-PERP" in cfg.breakers


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"X": {"tick_size": 0}}, "instruments.X.tick_size"),
        ({"X": {"tick_size": "5"}}, "instruments.X.tick_size"),
        ({"X": {"contract_size": "0.0000001"}}, "instruments.X.contract_size"),
        ({"X": {"mmf_ppm": 200_000}}, "instruments.X.mmf_ppm"),
        ({"X": {"maker_fee_ppm": -600, "taker_fee_ppm": 500}}, "maker_fee_ppm"),
        ({"X": {"colour": "red"}}, "instruments.X.colour: unknown key"),
        ({"X": {"kind": "option"}}, "instruments.X.kind"),
        ({"X": {"breakers": {"static_band_ppm": 0}}}, "instruments.X.breakers"),
        ({"clearing": {"insurance_fund": -1}}, "clearing.insurance_fund"),
        ({"accounts": [{"id": 1}, {"id": 1}]}, "duplicate account"),
        ({"accounts": [{"id": 1, "deposits": {"DOGE": 5}}]}, "unknown asset"),
    ],
)
def test_bad_values_name_the_key(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        make_config(**changes)


def test_tiers_must_be_ordered_and_open_ended() -> None:
    tiers = [{"up_to": 1_000, "imf_ppm": 100_000, "mmf_ppm": 50_000},
             {"up_to": 2_000, "imf_ppm": 200_000, "mmf_ppm": 100_000}]  # fmt: skip
    with pytest.raises(ConfigError, match="open-ended"):
        make_config(X={"imf_ppm": None, "mmf_ppm": None, "margin_tiers": tiers})

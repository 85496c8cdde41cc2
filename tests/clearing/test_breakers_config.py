"""BreakerConfig: defaults, TOML-style tables, validation, band arithmetic."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from clearing.breaker_config import (
    BreakerConfig,
    band_around,
    ceil_to_tick,
    floor_to_tick,
    mean_to_tick,
)

S = 1_000_000_000
DOC = Path(__file__).resolve().parents[2] / "docs" / "circuit-breakers.md"


def test_defaults_are_the_risk_reference_values() -> None:
    cfg = BreakerConfig()
    assert cfg.static_band_ppm == 50_000
    assert cfg.luld_window_ns == 300 * S
    assert cfg.tiers == ((None, 50_000),)
    assert cfg.limit_state_ns == 15 * S
    assert cfg.pause_ns == 300 * S
    assert cfg.call_period_ns == 30 * S
    assert (cfg.velocity_ppm, cfg.velocity_window_ns) == (35_000, 60 * S)
    assert cfg.tick_size == 1
    assert BreakerConfig.from_dict({}) == cfg


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BreakerConfig().pause_ns = 1  # type: ignore[misc]


def test_the_documented_example_table_loads() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    cfg = BreakerConfig.from_dict(tomllib.loads(block.group(1)))
    assert cfg.tiers == ((300, 200_000), (None, 50_000))
    assert cfg.band_ppm(300) == 200_000 and cfg.band_ppm(301) == 50_000
    assert cfg.dynamic_band(250) == (200, 300)
    # every key of the config is in the example and in the key table
    assert set(tomllib.loads(block.group(1))) == {f.name for f in dataclasses.fields(cfg)}
    for f in dataclasses.fields(cfg):
        assert f"| `{f.name}` |" in text


def test_from_dict_accepts_pairs_and_tables_and_round_trips() -> None:
    pairs = BreakerConfig.from_dict({"tiers": [[1_000, 100_000], [None, 20_000]], "tick_size": 5})
    tables = BreakerConfig.from_dict(
        {
            "tiers": [{"max_reference_price": 1_000, "band_ppm": 100_000}, {"band_ppm": 20_000}],
            "tick_size": 5,
        }
    )
    assert pairs == tables
    assert pairs.tiers == ((1_000, 100_000), (None, 20_000))
    assert BreakerConfig.from_dict(pairs.to_dict()) == pairs
    # a list of lists straight into the constructor is normalised to tuples
    assert BreakerConfig(tiers=[[1_000, 100_000], [None, 20_000]], tick_size=5) == pairs  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"static_band": 1}, "unknown breaker config key"),
        ({"pause_ns": True}, "must be an integer"),
        ({"pause_ns": 1.5}, "must be an integer"),
        ({"pause_ns": "300"}, "must be an integer"),
        ({"pause_ns": 0}, "pause_ns must be positive"),
        ({"tick_size": 0}, "tick_size must be positive"),
        ({"static_band_ppm": 0}, "static_band_ppm"),
        ({"static_band_ppm": 1_000_000}, "static_band_ppm"),
        ({"call_period_ns": 301 * S}, "call_period_ns"),
        ({"call_period_ns": -1}, "call_period_ns"),
        ({"velocity_ppm": -1}, "velocity_ppm"),
        ({"velocity_window_ns": 0}, "velocity_window_ns"),
        ({"luld_window_ns": -5}, "luld_window_ns"),
        ({"limit_state_ns": 0}, "limit_state_ns"),
        ({"tiers": []}, "non-empty"),
        ({"tiers": "wide"}, "tiers must be a list"),
        ({"tiers": [{"band_ppm": 10}, {"band_ppm": 20}]}, "only the last tier"),
        ({"tiers": [{"max_reference_price": 5, "band_ppm": 10}]}, "last tier must be open-ended"),
        ({"tiers": [[10, 5], [5, 5], [None, 5]]}, "increasing"),
        ({"tiers": [[0, 5], [None, 5]]}, "positive increasing"),
        ({"tiers": [[None, 0]]}, "band_ppm"),
        ({"tiers": [[None, 1_000_000]]}, "band_ppm"),
        ({"tiers": [[None, True]]}, "band_ppm"),
        ({"tiers": [{"max": 5, "band_ppm": 10}]}, "unknown tier key"),
        ({"tiers": [{"max_reference_price": 5}]}, "needs band_ppm"),
        ({"tiers": [[None, 5, 6]]}, "a tier is"),
    ],
)
def test_bad_tables_raise_naming_the_problem(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BreakerConfig.from_dict(table)


def test_from_dict_refuses_a_non_table() -> None:
    with pytest.raises(ValueError):
        BreakerConfig.from_dict([("pause_ns", 1)])  # type: ignore[arg-type]


def test_tick_rounding_helpers() -> None:
    assert ceil_to_tick(1001, 1, 5) == 1005 and floor_to_tick(1001, 1, 5) == 1000
    assert ceil_to_tick(1000, 1, 5) == 1000 and floor_to_tick(1000, 1, 5) == 1000
    assert ceil_to_tick(9_547_500, 10_000, 5) == 955  # 954.75 up
    assert floor_to_tick(10_552_500, 10_000, 5) == 1055  # 1055.25 down
    assert band_around(100_000, 50_000, 1) == (95_000, 105_000)
    assert band_around(3, 500_000, 1) == (2, 4)  # 1.5 .. 4.5 -> 2 .. 4
    assert band_around(1_003, 1, 5) == (1_005, 1_000)  # off-tick centre, tiny band: empty
    assert mean_to_tick(2_005, 2, 5) == 1_005  # 1002.5 -> halves up
    assert mean_to_tick(2_004, 2, 5) == 1_000  # 1002 -> nearer 1000
    assert mean_to_tick(2, 2, 5) == 5  # never below one tick

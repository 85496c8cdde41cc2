"""The ``[options.UNDERLYING]`` and ``[portfolio]`` config sections.

``[options.BTC]`` lists a chain: every ``expiries`` x ``strikes`` x call/put is a series,
an instrument of kind ``option`` named by its native name (``BTC-25DEC26-60000-C``; the
ccxt symbol is derived from it). Premium, strike and index share the index's price units
(``price_decimals``); the multiplier comes from ``contract_size`` as for futures. Keys:

- ``index`` (required): the index the options settle on (its TWAP at expiry);
- ``expiries`` (required): expiry times in ns; ``strikes`` (required): price units;
- ``tick_size``, ``lot_size``, ``min_qty``, ``max_qty``, ``qty_decimals``,
  ``price_decimals``, ``contract_size``, ``maker_fee_ppm``, ``taker_fee_ppm``,
  ``max_position_notional``, ``settlement_window_ns``: as for instruments;
- ``im_base_ppm`` (150,000), ``im_min_ppm`` (100,000), ``mm_ppm`` (75,000): standard
  margin factors; ``iv_floor_ppm`` (100,000), ``iv_cap_ppm`` (3,000,000),
  ``iv_default_ppm`` (600,000), ``iv_stale_ns`` (5 min): the IV surface;
- ``liquidation_band_ppm`` (100,000): liquidation IOCs on options stay within the mark
  ± this share of the forward.

``[portfolio]``: the scan (``clearing.options.scenarios.ScanParams`` fields:
``vol_up_ppm``, ``vol_down_ppm``, ``short_power_ppm``, ``long_power_ppm``,
``power_switch_days``, ``reference_days``, ``dte_floor_days``, ``min_delta_ppm``,
``mm_ratio_ppm``, ``scenarios`` as ``[[shock_ppm, vol_dir, weight_ppm], ...]``) and
``default_mode`` (``"standard"`` or ``"portfolio"``). An account's own ``margin_mode``
(in ``[[accounts]]``) overrides the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clearing.options.scenarios import ScanParams
from clearing.options.series import OptionSeries
from clearing.options.standard import StandardParams
from clearing.options.surface import SurfaceParams

OPTION = "option"
STANDARD = "standard"
PORTFOLIO = "portfolio"
MODES = (STANDARD, PORTFOLIO)


@dataclass(frozen=True, slots=True)
class ChainSpec:
    """One underlying's listed chain and its option parameters."""

    underlying: str
    index: str
    expiries: tuple[int, ...]
    strikes: tuple[int, ...]
    standard: StandardParams
    surface: SurfaceParams
    liquidation_band_ppm: int = 100_000


@dataclass(frozen=True, slots=True)
class PortfolioSpec:
    scan: ScanParams = field(default_factory=ScanParams)
    default_mode: str = STANDARD


CHAIN_KEYS = {
    "index", "expiries", "strikes", "im_base_ppm", "im_min_ppm", "mm_ppm", "iv_floor_ppm",
    "iv_cap_ppm", "iv_default_ppm", "iv_stale_ns", "liquidation_band_ppm",
}  # fmt: skip
INSTRUMENT_KEYS = {
    "tick_size", "lot_size", "min_qty", "max_qty", "qty_decimals", "price_decimals",
    "contract_size", "maker_fee_ppm", "taker_fee_ppm", "max_position_notional",
    "settlement_window_ns",
}  # fmt: skip
PORTFOLIO_KEYS = {*ScanParams.__dataclass_fields__, "default_mode"}


def _ints(t: Mapping[str, Any], key: str, where: str, err: type[Exception]) -> tuple[int, ...]:
    v = t.get(key)
    if not isinstance(v, list) or not v or any(type(x) is not int or x <= 0 for x in v):
        raise err(f"{where}.{key}: must be a non-empty array of positive integers")
    if len(set(v)) != len(v):
        raise err(f"{where}.{key}: duplicates")
    return tuple(sorted(v))


def parse_chain(name: str, t: Mapping[str, Any], err: type[Exception]
                ) -> tuple[ChainSpec, dict[str, Any]]:
    """Validate one ``[options.NAME]`` table: the chain and the instrument keys it shares."""
    where = f"options.{name}"
    if not isinstance(t, Mapping):
        raise err(f"{where}: must be a table")
    for key in t:
        if key not in CHAIN_KEYS and key not in INSTRUMENT_KEYS:
            raise err(f"{where}.{key}: unknown key")
    index = t.get("index")
    if not isinstance(index, str) or not index:
        raise err(f"{where}.index: required (a non-empty string)")

    def num(key: str, default: int, lo: int, hi: int) -> int:
        v = t.get(key, default)
        if type(v) is not int or not lo <= v <= hi:
            raise err(f"{where}.{key}: must be an integer in {lo}..{hi}")
        return v

    try:
        std = StandardParams(num("im_base_ppm", 150_000, 0, 10**6),
                             num("im_min_ppm", 100_000, 0, 10**6),
                             num("mm_ppm", 75_000, 0, 10**6))  # fmt: skip
        surf = SurfaceParams(num("iv_floor_ppm", 100_000, 1, 10**8),
                             num("iv_cap_ppm", 3_000_000, 1, 10**8),
                             num("iv_default_ppm", 600_000, 1, 10**8),
                             num("iv_stale_ns", 300_000_000_000, 1, 1 << 62))  # fmt: skip
    except ValueError as exc:
        raise err(f"{where}: {exc}") from None
    chain = ChainSpec(name, index, _ints(t, "expiries", where, err),
                      _ints(t, "strikes", where, err), std, surf,
                      num("liquidation_band_ppm", 100_000, 1, 10**6))  # fmt: skip
    shared = {k: v for k, v in t.items() if k in INSTRUMENT_KEYS}
    return chain, shared


def chain_series(chain: ChainSpec, price_decimals: int) -> list[OptionSeries]:
    """Every series of a chain, in (expiry, strike, call before put) order."""
    return [OptionSeries(chain.underlying, e, k, kind, price_decimals=price_decimals)
            for e in chain.expiries for k in chain.strikes for kind in ("C", "P")]


def parse_portfolio(t: Mapping[str, Any], err: type[Exception]) -> PortfolioSpec:
    if not isinstance(t, Mapping):
        raise err("portfolio: must be a table")
    kw: dict[str, Any] = {}
    for key, v in t.items():
        if key not in PORTFOLIO_KEYS:
            raise err(f"portfolio.{key}: unknown key")
        if key == "default_mode":
            continue
        if key == "scenarios":
            if not isinstance(v, list) or not all(
                isinstance(r, list) and len(r) == 3 and all(type(x) is int for x in r) for r in v
            ):
                raise err("portfolio.scenarios: an array of [shock_ppm, vol_dir, weight_ppm]")
            kw[key] = tuple(tuple(r) for r in v)
        elif type(v) is not int:
            raise err(f"portfolio.{key}: must be an integer")
        else:
            kw[key] = v
    mode = t.get("default_mode", STANDARD)
    if mode not in MODES:
        raise err("portfolio.default_mode: 'standard' or 'portfolio'")
    try:
        return PortfolioSpec(ScanParams(**kw), mode)
    except ValueError as exc:
        raise err(f"portfolio: {exc}") from None

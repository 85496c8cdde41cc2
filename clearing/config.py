"""Clearing configuration: frozen dataclasses loaded from a TOML file with ``tomllib``.

The format is documented in docs/clearing-config.md, with a complete example in
docs/examples/clearing.toml. Rules:

1. Everything is an integer in the engine's units (minor units, price units, quantity
   units, ppm, nanoseconds) except ``contract_size``, a decimal string.
2. A bad file raises ``ConfigError`` naming the offending key (``instruments.X.tick_size:
   must be a positive integer``); unknown keys are refused too, so a typo cannot pass.
3. Loading is pure apart from reading the one file: ``parse_config(dict)`` does the work.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from clearing.assets import AssetSpec
from clearing.instruments import FUTURE, OPTION, PERPETUAL, InstrumentSpec, MarginTier
from clearing.intmath import PPM

HOUR_NS = 3_600_000_000_000
MAX_AMOUNT = 10**15
"""Largest single deposit, withdrawal or configured amount (1e9 USD at 6 decimals)."""


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class RiskParams:
    margin_call_ratio_ppm: int = 1_500_000
    liquidation_fee_ppm: int = 15_000
    spread_to_mm_ppm: int = 1_500_000
    bankruptcy_adjustment_ppm: int = 1_000_000
    liquidation_step_ppm: int = 1_000_000
    insurance_fund: int = 0


@dataclass(frozen=True, slots=True)
class AccountSpec:
    id: int
    deposits: tuple[tuple[str, int], ...] = ()
    margin_mode: str | None = None  # "standard" / "portfolio" (None: the default)


@dataclass(frozen=True, slots=True)
class ClearingConfig:
    settlement_asset: str
    assets: Mapping[str, AssetSpec]
    instruments: Mapping[str, InstrumentSpec]
    indices: Mapping[str, int] = field(default_factory=dict)
    accounts: tuple[AccountSpec, ...] = ()
    risk: RiskParams = RiskParams()
    breakers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # underlying -> ChainSpec
    portfolio: Any = None  # clearing.options.config.PortfolioSpec (None: defaults)


def load_config(path: str | Path) -> ClearingConfig:
    """Read and validate a TOML file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data)


# -- helpers ---------------------------------------------------------------------------


def _int(table: Mapping[str, Any], key: str, where: str, default: Any = None, *,
         minimum: int | None = None, maximum: int | None = None, required: bool = False) -> Any:
    if key not in table:
        if required:
            raise ConfigError(f"{where}.{key}: required")
        return default
    value = table[key]
    if type(value) is not int:
        raise ConfigError(f"{where}.{key}: must be an integer")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}.{key}: must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{where}.{key}: must be <= {maximum}")
    return value


def _str(table: Mapping[str, Any], key: str, where: str, default: Any = None,
         required: bool = False) -> Any:
    if key not in table:
        if required:
            raise ConfigError(f"{where}.{key}: required")
        return default
    value = table[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key}: must be a non-empty string")
    return value


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}{key}: must be a table")
    return value


def _known(table: Mapping[str, Any], keys: set[str], where: str) -> None:
    for key in table:
        if key not in keys:
            raise ConfigError(f"{where}.{key}: unknown key")


# -- sections --------------------------------------------------------------------------

_CLEARING_KEYS = {"settlement_asset", *RiskParams.__dataclass_fields__}
_ASSET_KEYS = {"decimals", "index", "index_decimals", "haircut_ppm"}
_INSTRUMENT_KEYS = {
    "kind", "index", "tick_size", "lot_size", "min_qty", "max_qty", "price_decimals",
    "qty_decimals", "contract_size", "maker_fee_ppm", "taker_fee_ppm", "imf_ppm", "mmf_ppm",
    "margin_tiers", "mark_band_ppm", "basis_window_ns", "twap_window_ns", "reference_price",
    "max_position_notional", "funding_interval_ns", "funding_sample_ns", "funding_cap_ppm",
    "funding_interest_ppm", "impact_notional", "expiry_ts", "settlement_window_ns", "breakers",
}  # fmt: skip


def parse_config(data: Mapping[str, Any]) -> ClearingConfig:
    """Validate a TOML-shaped mapping into a ``ClearingConfig``."""
    if not isinstance(data, Mapping):
        raise ConfigError("configuration must be a table")
    _known(data, {"clearing", "assets", "indices", "instruments", "accounts", "options",
                  "portfolio"}, "$")  # fmt: skip
    clearing = _table(data, "clearing", "")
    _known(clearing, _CLEARING_KEYS, "clearing")
    settle = _str(clearing, "settlement_asset", "clearing", "USD")
    risk = RiskParams(
        margin_call_ratio_ppm=_int(clearing, "margin_call_ratio_ppm", "clearing", 1_500_000,
                                   minimum=PPM, maximum=100 * PPM),
        liquidation_fee_ppm=_int(clearing, "liquidation_fee_ppm", "clearing", 15_000,
                                 minimum=0, maximum=PPM),
        spread_to_mm_ppm=_int(clearing, "spread_to_mm_ppm", "clearing", 1_500_000,
                              minimum=0, maximum=100 * PPM),
        bankruptcy_adjustment_ppm=_int(clearing, "bankruptcy_adjustment_ppm", "clearing",
                                       PPM, minimum=0, maximum=10 * PPM),
        liquidation_step_ppm=_int(clearing, "liquidation_step_ppm", "clearing", PPM,
                                  minimum=1, maximum=PPM),
        insurance_fund=_int(clearing, "insurance_fund", "clearing", 0, minimum=0,
                            maximum=MAX_AMOUNT),
    )  # fmt: skip

    assets_t = _table(data, "assets", "")
    assets: dict[str, AssetSpec] = {}
    for name, t in assets_t.items():
        where = f"assets.{name}"
        if not isinstance(t, Mapping):
            raise ConfigError(f"{where}: must be a table")
        _known(t, _ASSET_KEYS, where)
        decimals = _int(t, "decimals", where, required=True, minimum=0, maximum=18)
        index = _str(t, "index", where)
        if name == settle:
            if index is not None:
                raise ConfigError(f"{where}.index: the settlement asset has no index")
            assets[name] = AssetSpec(name, decimals, settle_decimals=decimals)
            continue
        assets[name] = AssetSpec(
            name,
            decimals,
            index=index,
            index_decimals=_int(t, "index_decimals", where, 0, minimum=0, maximum=18),
            haircut_ppm=_int(t, "haircut_ppm", where, 0, minimum=0, maximum=PPM),
        )
        if index is None:
            raise ConfigError(f"{where}.index: required for a non-settlement asset")
    if settle not in assets:
        raise ConfigError(f"assets.{settle}: the settlement asset must be declared")
    settle_dec = assets[settle].decimals
    assets = {
        k: (v if k == settle else AssetSpec(v.name, v.decimals, v.index, v.index_decimals,
                                             v.haircut_ppm, settle_dec))
        for k, v in assets.items()
    }  # fmt: skip

    indices_t = _table(data, "indices", "")
    indices: dict[str, int] = {}
    for name in indices_t:
        indices[name] = _int(indices_t, name, "indices", minimum=1, maximum=1 << 53)

    inst_t = _table(data, "instruments", "")
    instruments: dict[str, InstrumentSpec] = {}
    breakers: dict[str, Mapping[str, Any]] = {}
    for sym, t in inst_t.items():
        if not isinstance(t, Mapping):
            raise ConfigError(f"instruments.{sym}: must be a table")
        instruments[sym] = _instrument(sym, t, settle_dec)
        if "breakers" in t:
            b = t["breakers"]
            if not isinstance(b, Mapping):
                raise ConfigError(f"instruments.{sym}.breakers: must be a table")
            breakers[sym] = dict(b)
            _check_breakers(sym, breakers[sym], instruments[sym].tick_size)

    chains, portfolio = _options(data, instruments, settle_dec)

    accounts: list[AccountSpec] = []
    raw_accounts = data.get("accounts", [])
    if not isinstance(raw_accounts, list):
        raise ConfigError("accounts: must be an array of tables ([[accounts]])")
    seen: set[int] = set()
    for i, t in enumerate(raw_accounts):
        where = f"accounts[{i}]"
        if not isinstance(t, Mapping):
            raise ConfigError(f"{where}: must be a table")
        _known(t, {"id", "deposits", "margin_mode"}, where)
        aid = _int(t, "id", where, required=True, minimum=0, maximum=(1 << 63) - 1)
        if aid in seen:
            raise ConfigError(f"{where}.id: duplicate account {aid}")
        seen.add(aid)
        dep_t = _table(t, "deposits", where + ".")
        deps = []
        for asset in dep_t:
            if asset not in assets:
                raise ConfigError(f"{where}.deposits.{asset}: unknown asset")
            deps.append((asset, _int(dep_t, asset, f"{where}.deposits", minimum=0,
                                     maximum=MAX_AMOUNT)))  # fmt: skip
        mode = t.get("margin_mode")
        if mode is not None and mode not in ("standard", "portfolio"):
            raise ConfigError(f"{where}.margin_mode: 'standard' or 'portfolio'")
        accounts.append(AccountSpec(aid, tuple(deps), mode))
    return ClearingConfig(settle, assets, instruments, indices, tuple(accounts), risk, breakers,
                          chains, portfolio)  # fmt: skip


def _options(data: Mapping[str, Any], instruments: dict[str, InstrumentSpec],
             settle_dec: int) -> tuple[dict[str, Any], Any]:
    """``[options.X]`` chains (their series join ``instruments``) and ``[portfolio]``."""
    from dataclasses import replace

    from clearing.options.config import chain_series, parse_chain, parse_portfolio

    chains: dict[str, Any] = {}
    for name, t in _table(data, "options", "").items():
        chain, shared = parse_chain(name, t, ConfigError)
        chains[name] = chain
        base = {"kind": OPTION, "index": chain.index, "imf_ppm": PPM, "mmf_ppm": PPM,
                "mark_band_ppm": 0, **shared}  # fmt: skip
        for series in chain_series(chain, shared.get("price_decimals", 0)):
            sym = series.native_name
            if sym in instruments:
                raise ConfigError(f"options.{name}: series {sym} clashes with an instrument")
            spec = _instrument(sym, {**base, "expiry_ts": series.expiry_ts}, settle_dec,
                               allow_option=True)  # fmt: skip
            instruments[sym] = replace(spec, option=series)
    portfolio = parse_portfolio(data["portfolio"], ConfigError) if "portfolio" in data else None
    return chains, portfolio


def _instrument(sym: str, t: Mapping[str, Any], settle_dec: int,
                allow_option: bool = False) -> InstrumentSpec:
    where = f"instruments.{sym}"
    _known(t, _INSTRUMENT_KEYS, where)
    if not sym or len(sym) > 64:
        raise ConfigError(f"{where}: symbol must have 1..64 characters")
    kind = _str(t, "kind", where, PERPETUAL)
    if kind not in (PERPETUAL, FUTURE) and not (allow_option and kind == OPTION):
        raise ConfigError(f"{where}.kind: must be 'perpetual' or 'future' (options: [options])")
    price_dec = _int(t, "price_decimals", where, 0, minimum=0, maximum=18)
    cs = t.get("contract_size", "1")
    if not isinstance(cs, str):
        raise ConfigError(f"{where}.contract_size: must be a decimal string such as \"0.001\"")
    try:
        mult_d = Decimal(cs).scaleb(settle_dec - price_dec)
    except InvalidOperation as exc:
        raise ConfigError(f"{where}.contract_size: not a decimal number") from exc
    if not mult_d.is_finite() or mult_d <= 0 or mult_d != mult_d.to_integral_value():
        raise ConfigError(
            f"{where}.contract_size: contract_size · 10^(settlement decimals - price_decimals)"
            f" = {mult_d} must be a positive integer"
        )
    tiers = _tiers(t, where)
    lot = _int(t, "lot_size", where, 1, minimum=1)
    maker = _int(t, "maker_fee_ppm", where, 0, minimum=-PPM, maximum=PPM)
    taker = _int(t, "taker_fee_ppm", where, 0, minimum=0, maximum=PPM)
    if taker < -maker:
        raise ConfigError(f"{where}.maker_fee_ppm: a rebate may not exceed the taker fee")
    interval = _int(t, "funding_interval_ns", where, HOUR_NS, minimum=1)
    imf0, mmf0 = tiers[0].imf_ppm, tiers[0].mmf_ppm
    default_cap = 6 * (imf0 - mmf0) * interval // (8 * HOUR_NS)
    index = _str(t, "index", where)
    ref = _int(t, "reference_price", where, None, minimum=1, maximum=1 << 53)
    if index is None and ref is None:
        raise ConfigError(f"{where}.reference_price: required when there is no index")
    expiry = _int(t, "expiry_ts", where, None, minimum=1)
    if kind in (FUTURE, OPTION) and expiry is None:
        raise ConfigError(f"{where}.expiry_ts: required for a dated future")
    if kind in (FUTURE, OPTION) and index is None:
        raise ConfigError(f"{where}.index: a dated future settles on its index")
    spec = InstrumentSpec(
        symbol=sym,
        kind=kind,
        multiplier=int(mult_d),
        tiers=tiers,
        index=index,
        tick_size=_int(t, "tick_size", where, 1, minimum=1),
        lot_size=lot,
        min_qty=_int(t, "min_qty", where, lot, minimum=1),
        max_qty=_int(t, "max_qty", where, lot * 1_000_000, minimum=1, maximum=1 << 40),
        price_decimals=price_dec,
        qty_decimals=_int(t, "qty_decimals", where, 0, minimum=0, maximum=18),
        contract_size=cs,
        maker_fee_ppm=maker,
        taker_fee_ppm=taker,
        mark_band_ppm=_int(t, "mark_band_ppm", where, 50_000, minimum=0, maximum=PPM - 1),
        basis_window_ns=_int(t, "basis_window_ns", where, 60_000_000_000, minimum=1),
        twap_window_ns=_int(t, "twap_window_ns", where, 300_000_000_000, minimum=1),
        reference_price=ref,
        max_position_notional=_int(t, "max_position_notional", where, MAX_AMOUNT, minimum=1,
                                   maximum=MAX_AMOUNT),
        funding_interval_ns=interval,
        funding_sample_ns=_int(t, "funding_sample_ns", where, 60_000_000_000, minimum=1,
                               maximum=interval),
        funding_cap_ppm=_int(t, "funding_cap_ppm", where, default_cap, minimum=0, maximum=PPM),
        funding_interest_ppm=_int(t, "funding_interest_ppm", where, 0, minimum=-PPM,
                                  maximum=PPM),
        impact_notional=_int(t, "impact_notional", where,
                             500 * 10**settle_dec * PPM // max(imf0, 1), minimum=1,
                             maximum=MAX_AMOUNT),
        expiry_ts=expiry,
        settlement_window_ns=_int(t, "settlement_window_ns", where, 1_800_000_000_000,
                                  minimum=1),
    )  # fmt: skip
    if spec.min_qty % lot or spec.max_qty % lot or spec.min_qty > spec.max_qty:
        raise ConfigError(f"{where}.min_qty: min_qty/max_qty must be multiples of lot_size")
    return spec


def _tiers(t: Mapping[str, Any], where: str) -> tuple[MarginTier, ...]:
    raw = t.get("margin_tiers")
    if raw is None:
        imf = _int(t, "imf_ppm", where, required=True, minimum=1, maximum=PPM)
        mmf = _int(t, "mmf_ppm", where, required=True, minimum=1, maximum=PPM)
        if mmf > imf:
            raise ConfigError(f"{where}.mmf_ppm: must not exceed imf_ppm")
        return (MarginTier(None, imf, mmf),)
    if "imf_ppm" in t or "mmf_ppm" in t:
        raise ConfigError(f"{where}.margin_tiers: give either imf/mmf_ppm or margin_tiers")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}.margin_tiers: must be a non-empty array of tables")
    tiers = []
    last_up = 0
    last_imf = last_mmf = 0
    for i, row in enumerate(raw):
        w = f"{where}.margin_tiers[{i}]"
        if not isinstance(row, Mapping):
            raise ConfigError(f"{w}: must be a table")
        _known(row, {"up_to", "imf_ppm", "mmf_ppm"}, w)
        final = i == len(raw) - 1
        up = _int(row, "up_to", w, None, minimum=last_up + 1, maximum=MAX_AMOUNT * 1000)
        if final and up is not None:
            raise ConfigError(f"{w}.up_to: the last tier is open-ended (leave up_to out)")
        if not final and up is None:
            raise ConfigError(f"{w}.up_to: required except on the last tier")
        imf = _int(row, "imf_ppm", w, required=True, minimum=1, maximum=PPM)
        mmf = _int(row, "mmf_ppm", w, required=True, minimum=1, maximum=PPM)
        if mmf > imf:
            raise ConfigError(f"{w}.mmf_ppm: must not exceed imf_ppm")
        if imf < last_imf or mmf < last_mmf:
            raise ConfigError(f"{w}: rates must not decrease from one tier to the next")
        tiers.append(MarginTier(up, imf, mmf))
        last_up = up or last_up
        last_imf, last_mmf = imf, mmf
    return tuple(tiers)


def _check_breakers(sym: str, table: dict[str, Any], tick: int) -> None:
    """Validate a breakers table with the breakers' own parser, when that module is here."""
    try:
        from clearing.breaker_config import BreakerConfig
    except ImportError:  # pragma: no cover - the breakers module is part of this build
        return
    t = dict(table)
    t.setdefault("tick_size", tick)
    try:
        BreakerConfig.from_dict(t)
    except ValueError as exc:
        raise ConfigError(f"instruments.{sym}.breakers: {exc}") from None

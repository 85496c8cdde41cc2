"""Instrument definitions as ccxt markets, and the one place integers become decimals.

The exchange speaks integers: prices in *price units*, quantities in *quantity units*,
money in *minor units* of an asset (``docs/protocol.md`` section 4). A ``Market`` is built
from one ``query_instruments`` record and converts both ways:

- out (wire -> user): ``price(units)``, ``amount(units)``: exact ``Decimal`` values,
  ``units / 10**decimals``;
- in (user -> wire): ``price_units(value)``, ``amount_units(value)`` accept ``Decimal``,
  ``int``, ``str`` or ``float`` (a float is read through its shortest repr, so ``0.1`` is
  ``Decimal("0.1")``). A value that is not a whole number of units, not finite, or not
  positive raises ``InvalidOrder`` *before* anything is sent (``local=True``); whether a
  whole number of units is on the tick or lot grid is the exchange's decision, so that
  refusal carries the exchange's own reason.

Money: ``money(units, asset)`` with ``ASSET_DECIMALS`` (USD 6, BTC 8, ETH 8; an asset not
listed shows its raw minor units). Symbols: a perpetual ``BTC-PERP`` settling in USD is
``BTC/USD:USD`` (ccxt's linear-swap form); an option ``BTC-26MAR27-60000-C`` is
``BTC/USD:USD-270326-60000-C`` (ccxt's option form ``BASE/QUOTE:SETTLE-YYMMDD-STRIKE-C|P``,
the strike in whole quote units, built from the record's ``underlying``, ``expiry_ts``,
``strike`` and ``option_type``); other kinds keep the exchange's id. Every method that
takes a symbol accepts either form. An option market has ccxt's ``option`` (True),
``strike``, ``optionType`` (``call``/``put``), ``expiry`` (ms) and ``expiryDatetime``;
its amounts are in the underlying (``contractSize`` 1), premiums in the quote currency.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from clients.sdk.errors import local_error
from gateway.protocol import Reason

Number = Decimal | int | str | float

ASSET_DECIMALS: dict[str, int] = {"USD": 6, "USDC": 6, "USDT": 6, "BTC": 8, "ETH": 8}
"""Minor-unit decimals of assets the exchange's default configuration uses."""


def to_decimal_input(value: object, what: str, reason: Reason) -> Decimal:
    """A user-supplied number as a finite ``Decimal``; ``InvalidOrder`` if it is not one."""
    if isinstance(value, bool) or value is None:
        raise local_error(reason, f"{what} must be a number, got {value!r}", what)
    try:
        if isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, Decimal | int | str):
            d = Decimal(value)
        else:
            raise TypeError
    except (InvalidOperation, TypeError, ValueError):
        raise local_error(reason, f"{what} must be a number, got {value!r}", what) from None
    if not d.is_finite():
        raise local_error(reason, f"{what} must be finite, got {value!r}", what)
    return d


def money(
    units: int | None, asset: str, decimals: Mapping[str, int] | None = None
) -> Decimal | None:
    """Minor units of ``asset`` as a ``Decimal`` in whole units (None stays None)."""
    if units is None:
        return None
    d = (decimals or ASSET_DECIMALS).get(asset, 0)
    return Decimal(units).scaleb(-d)


def option_symbol(underlying: str, settle: str, expiry_ts: int, strike: Decimal,
                  option_type: str) -> str:  # fmt: skip
    """ccxt's option symbol: ``BTC/USD:USD-270326-60000-C``."""
    day = _dt.datetime.fromtimestamp(expiry_ts // 1_000_000_000, tz=_dt.UTC)
    k = f"{strike.normalize():f}"
    cp = "C" if option_type == "call" else "P"
    return f"{underlying}/{settle}:{settle}-{day:%y%m%d}-{k}-{cp}"


def _is_option(record: Mapping[str, Any]) -> bool:
    return record.get("kind") == "option" and all(
        record.get(k) is not None for k in ("underlying", "expiry_ts", "strike", "option_type"))


def unified_symbol(record: Mapping[str, Any]) -> str:
    """ccxt's symbol for an instrument record: ``BTC/USD:USD`` for a perpetual ``BTC-PERP``,
    ``BTC/USD:USD-270326-60000-C`` for an option."""
    sym = str(record["symbol"])
    settle = str(record.get("settlement_asset") or "USD")
    if _is_option(record):
        strike = Decimal(int(record["strike"])).scaleb(-int(record.get("price_decimals") or 0))
        return option_symbol(str(record["underlying"]), settle, int(record["expiry_ts"]),
                             strike, str(record["option_type"]))  # fmt: skip
    if record.get("kind", "perpetual") == "perpetual" and "-" in sym:
        base = sym.split("-", 1)[0]
        if base:
            return f"{base}/{settle}:{settle}"
    return sym


def _iso(ms: int) -> str:
    t = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Market:
    """One instrument, with ccxt's market fields and the exchange's integer definition."""

    id: str
    symbol: str
    base: str
    quote: str
    settle: str
    type: str
    spot: bool
    swap: bool
    future: bool
    contract: bool
    linear: bool
    contractSize: Decimal
    active: bool
    status: str
    tick_size: int
    lot_size: int
    min_qty: int
    max_qty: int
    price_decimals: int
    qty_decimals: int
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    option: bool = False
    strike: Decimal | None = None
    optionType: str | None = None
    expiry: int | None = None
    expiryDatetime: str | None = None
    underlying: str | None = None

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Market:
        sym = str(rec["symbol"])
        kind = str(rec.get("kind") or "perpetual")
        settle = str(rec.get("settlement_asset") or "USD")
        unified = unified_symbol(rec)
        base = unified.split("/", 1)[0] if "/" in unified else sym.split("-", 1)[0]
        swap = kind == "perpetual"
        future = kind == "future"
        option = _is_option(rec)
        status = str(rec.get("status") or "trading")
        exp_ns = rec.get("expiry_ts")
        expiry = int(exp_ns) // 1_000_000 if exp_ns is not None else None
        extra: dict[str, Any] = {}
        if option:
            extra = dict(option=True, underlying=str(rec["underlying"]),
                         strike=Decimal(int(rec["strike"])).scaleb(-int(rec["price_decimals"])),
                         optionType=str(rec["option_type"]))  # fmt: skip
        if expiry is not None:
            extra.update(expiry=expiry, expiryDatetime=_iso(expiry))
        return cls(
            id=sym,
            symbol=unified,
            base=base,
            quote=settle,
            settle=settle,
            type="swap" if swap else ("future" if future else kind),
            spot=not (swap or future or option),
            swap=swap,
            future=future,
            contract=swap or future or option,
            linear=True,
            contractSize=Decimal(1),
            active=status == "trading",
            status=status,
            tick_size=int(rec["tick_size"]),
            lot_size=int(rec["lot_size"]),
            min_qty=int(rec["min_qty"]),
            max_qty=int(rec["max_qty"]),
            price_decimals=int(rec["price_decimals"]),
            qty_decimals=int(rec["qty_decimals"]),
            info=dict(rec),
            **extra,
        )

    # -- wire -> user ---------------------------------------------------------------------
    def price(self, units: int | str | None) -> Decimal | None:
        """Price units (or a decimal string such as ``avg_px``) -> price as a ``Decimal``."""
        if units is None:
            return None
        return Decimal(units).scaleb(-self.price_decimals)

    def amount(self, units: int | None) -> Decimal | None:
        """Quantity units -> amount as a ``Decimal``."""
        if units is None:
            return None
        return Decimal(units).scaleb(-self.qty_decimals)

    def cost(self, notional: int | None) -> Decimal | None:
        """A price-units x quantity-units product (``cum_notional``) in quote currency."""
        if notional is None:
            return None
        return (Decimal(notional) * self.contractSize).scaleb(
            -(self.price_decimals + self.qty_decimals)
        )

    # -- user -> wire ---------------------------------------------------------------------
    def _units(self, value: object, decimals: int, what: str, reason: Reason) -> int:
        d = to_decimal_input(value, what, reason)
        scaled = d.scaleb(decimals)
        if scaled != scaled.to_integral_value():
            step = Decimal(1).scaleb(-decimals)
            raise local_error(
                reason,
                f"{what} {d} is not a whole number of units of {step} on {self.symbol}",
                what,
            )
        if scaled <= 0:
            raise local_error(reason, f"{what} must be positive, got {d}", what)
        return int(scaled)

    def price_units(self, value: Number) -> int:
        return self._units(value, self.price_decimals, "price", Reason.INVALID_PRICE)

    def amount_units(self, value: Number) -> int:
        return self._units(value, self.qty_decimals, "amount", Reason.INVALID_QUANTITY)

    # -- grid helpers for bots --------------------------------------------------------------
    @property
    def tick(self) -> Decimal:
        """The price increment as a ``Decimal`` (ccxt ``precision.price``)."""
        return Decimal(self.tick_size).scaleb(-self.price_decimals)

    @property
    def lot(self) -> Decimal:
        """The amount increment as a ``Decimal`` (ccxt ``precision.amount``)."""
        return Decimal(self.lot_size).scaleb(-self.qty_decimals)

    def round_price(self, value: Number, up: bool = False) -> Decimal:
        """``value`` on the tick grid, rounded down (or up)."""
        d = to_decimal_input(value, "price", Reason.INVALID_PRICE)
        steps = (d / self.tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)
        return steps * self.tick

    def round_amount(self, value: Number) -> Decimal:
        """``value`` on the lot grid, rounded down."""
        d = to_decimal_input(value, "amount", Reason.INVALID_QUANTITY)
        return (d / self.lot).to_integral_value(ROUND_FLOOR) * self.lot

    def to_ccxt(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "settle": self.settle,
            "baseId": self.base,
            "quoteId": self.quote,
            "settleId": self.settle,
            "type": self.type,
            "spot": self.spot,
            "margin": False,
            "swap": self.swap,
            "future": self.future,
            "option": self.option,
            "contract": self.contract,
            "linear": self.linear,
            "inverse": False,
            "contractSize": float(self.contractSize),
            "active": self.active,
            "expiry": self.expiry,
            "expiryDatetime": self.expiryDatetime,
            "strike": None if self.strike is None else float(self.strike),
            "optionType": self.optionType,
            "precision": {"amount": float(self.lot), "price": float(self.tick)},
            "limits": {
                "amount": {
                    "min": float(self.amount(self.min_qty) or 0),
                    "max": float(self.amount(self.max_qty) or 0),
                },
                "price": {"min": float(self.tick), "max": None},
                "cost": {"min": None, "max": None},
                "leverage": {"min": None, "max": None},
            },
            "info": dict(self.info),
        }

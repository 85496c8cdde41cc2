"""Option series: what a listed European option is, and its two names.

A series is cash-settled in the settlement asset on an index (linear, USD terms): at
expiry a holder of ``q`` lots receives ``q · max(0, ±(S_T - K)) · m`` minor units, with
``S_T`` the index TWAP and ``m`` the instrument multiplier (see ``clearing.instruments``).
Strike, premium and index share the same integer price units.

Names (both derivable from a series and parseable back to its fields):

- ccxt: ``BTC/USD:USD-261225-60000-C``  (``BASE/QUOTE:SETTLE-YYMMDD-STRIKE-C|P``)
- native (Deribit style): ``BTC-25DEC26-60000-C``  (day without a leading zero)

The strike in a name is in whole quote units (a decimal string when ``price_decimals``
makes it fractional). A name carries only the expiry date; the time of day is the
configured expiry hour (08:00 UTC by default, as on Deribit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

CALL = "C"
PUT = "P"
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DEFAULT_EXPIRY_HOUR = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CCXT = re.compile(r"^([A-Z0-9]+)/([A-Z0-9]+):([A-Z0-9]+)-(\d{6})-([0-9.]+)-([CP])$")
_NATIVE = re.compile(r"^([A-Z0-9]+)-(\d{1,2})([A-Z]{3})(\d{2})-([0-9.]+)-([CP])$")


class SymbolError(ValueError):
    """A string is not a valid option name."""


@dataclass(frozen=True, slots=True)
class OptionSeries:
    """One listed option: ``strike`` in price units, ``expiry_ts`` in ns since the epoch."""

    underlying: str
    expiry_ts: int
    strike: int
    kind: str
    quote: str = "USD"
    settle: str = "USD"
    price_decimals: int = 0

    def __post_init__(self) -> None:
        if self.kind not in (CALL, PUT):
            raise ValueError("kind must be 'C' or 'P'")
        if type(self.strike) is not int or self.strike <= 0:
            raise ValueError("strike must be a positive integer (price units)")
        if type(self.expiry_ts) is not int or self.expiry_ts <= 0:
            raise ValueError("expiry_ts must be a positive integer (ns)")

    @property
    def is_call(self) -> bool:
        return self.kind == CALL

    @property
    def expiry_ms(self) -> int:
        return self.expiry_ts // 1_000_000

    def _strike_text(self) -> str:
        d = Decimal(self.strike).scaleb(-self.price_decimals).normalize()
        return f"{d:f}"

    def _date(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.expiry_ts // 1_000)

    @property
    def ccxt_symbol(self) -> str:
        d = self._date()
        return (f"{self.underlying}/{self.quote}:{self.settle}-{d:%y%m%d}-"
                f"{self._strike_text()}-{self.kind}")  # fmt: skip

    @property
    def native_name(self) -> str:
        d = self._date()
        return (f"{self.underlying}-{d.day}{MONTHS[d.month - 1]}{d:%y}-"
                f"{self._strike_text()}-{self.kind}")  # fmt: skip


def expiry_ts_of(year: int, month: int, day: int, hour: int = DEFAULT_EXPIRY_HOUR) -> int:
    """Nanoseconds since the epoch of ``year-month-day hour:00 UTC`` (exact integer)."""
    try:
        dt = datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError as exc:
        raise SymbolError(f"not a date: {year}-{month}-{day}") from exc
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000


def _strike_units(text: str, price_decimals: int) -> int:
    try:
        units = Decimal(text).scaleb(price_decimals)
    except ArithmeticError as exc:  # pragma: no cover - the regex admits digits only
        raise SymbolError(f"bad strike {text!r}") from exc
    if units <= 0 or units != units.to_integral_value():
        raise SymbolError(f"strike {text} is not a whole number of price units")
    return int(units)


def parse_symbol(symbol: str, *, price_decimals: int = 0,
                 expiry_hour: int = DEFAULT_EXPIRY_HOUR) -> OptionSeries:
    """Parse a ccxt or a native option name into a series (raises ``SymbolError``)."""
    if not isinstance(symbol, str):
        raise SymbolError("an option name is a string")
    m = _CCXT.match(symbol)
    if m:
        base, quote, settle, ymd, strike, kind = m.groups()
        year, month, day = 2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:])
    else:
        m = _NATIVE.match(symbol)
        if not m:
            raise SymbolError(f"{symbol!r} is neither BTC/USD:USD-261225-60000-C nor "
                              "BTC-25DEC26-60000-C")  # fmt: skip
        base, day_s, mon, yy, strike, kind = m.groups()
        if mon not in MONTHS:
            raise SymbolError(f"unknown month {mon!r}")
        quote = settle = "USD"
        year, month, day = 2000 + int(yy), MONTHS.index(mon) + 1, int(day_s)
    return OptionSeries(base, expiry_ts_of(year, month, day, expiry_hour),
                        _strike_units(strike, price_decimals), kind, quote, settle,
                        price_decimals)  # fmt: skip

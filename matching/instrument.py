"""Instrument definitions as the matcher sees them: symbol, tick, lot and size limits.

Prices are integers in *price units* and quantities integers in *quantity units*; an
instrument says how many units make one tick and one lot, and how many decimals a unit
has for display at the edge (the SDK and market-data encoders). With ``tick_size=1`` a
price is simply a count of ticks.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_PRICE = 1 << 53
"""No price may exceed this many price units (exactly representable as a double)."""


class Instrument(NamedTuple):
    symbol: str
    tick_size: int = 1
    lot_size: int = 1
    min_qty: int = 1
    max_qty: int = 1 << 40
    price_decimals: int = 0
    qty_decimals: int = 0

    def check(self) -> str | None:
        """Return a description of what is wrong with this definition, or None."""
        if not isinstance(self.symbol, str) or not self.symbol or len(self.symbol) > 64:
            return "symbol must be a non-empty string of at most 64 characters"
        for name in ("tick_size", "lot_size", "min_qty", "max_qty"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                return f"{name} must be a positive integer"
        if self.min_qty > self.max_qty:
            return "min_qty exceeds max_qty"
        if self.min_qty % self.lot_size or self.max_qty % self.lot_size:
            return "min_qty and max_qty must be multiples of lot_size"
        return None

"""Collateral assets: how an account balance in an asset counts toward equity.

A balance is an integer in the asset's minor units (``decimals``: BTC 8 means 1 = 1e-8
BTC). The settlement asset (USD, 6 decimals) counts at face value and may go negative
(it is the account's quote balance ``Q``: buying a contract pays its notional from it).
Any other asset counts at its index price less a haircut, rounded **down**::

    value = floor(balance · price · 10^(settle_dec - decimals - index_dec) · (1 - haircut))

where ``price`` is the asset's index in units of ``10^-index_decimals`` settlement
currency. Non-settlement balances never go negative (withdrawals are checked), and a
balance without an index price yet counts as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearing.intmath import PPM


@dataclass(frozen=True, slots=True)
class AssetSpec:
    name: str
    decimals: int
    index: str | None = None
    index_decimals: int = 0
    haircut_ppm: int = 0
    settle_decimals: int = 6

    @property
    def scale(self) -> tuple[int, int]:
        """``(num, den)`` turning ``balance · price`` into settlement minor units."""
        e = self.settle_decimals - self.decimals - self.index_decimals
        return (10**e, 1) if e >= 0 else (1, 10 ** (-e))

    def value(self, balance: int, price: int | None) -> int:
        """Collateral value in settlement minor units (settlement asset: the balance)."""
        if self.index is None:
            return balance
        if price is None or balance <= 0:
            return 0
        num, den = self.scale
        return (balance * price * num * (PPM - self.haircut_ppm)) // (den * PPM)

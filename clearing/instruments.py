"""Instruments as clearing sees them: linear perpetuals, dated futures and options.

A contract's value in settlement minor units is ``qty · price · multiplier`` where
``qty`` is in the matcher's quantity units and ``price`` in its price units. The
multiplier comes from the contract size (base asset per quantity unit) and the price
decimals: ``multiplier = contract_size · 10^-price_decimals · 10^settle_decimals``, and
must come out a positive integer (config refuses anything else), so every notional is
exact.

Fees are ppm of notional: taker fee >= 0, maker fee may be negative (a rebate) but
never larger than the taker fee, so every trade adds to the fee pool. A fee is rounded
up, a rebate down.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearing.intmath import PPM
from clearing.margin import TierSchedule
from matching.instrument import Instrument

PERPETUAL = "perpetual"
FUTURE = "future"
OPTION = "option"  # a European option series (``option`` holds it; clearing.options)


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One bracket: notional up to ``up_to`` (None: unbounded) at ``imf_ppm``/``mmf_ppm``."""

    up_to: int | None
    imf_ppm: int
    mmf_ppm: int


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    symbol: str
    kind: str
    multiplier: int
    tiers: tuple[MarginTier, ...]
    index: str | None = None
    tick_size: int = 1
    lot_size: int = 1
    min_qty: int = 1
    max_qty: int = 1 << 40
    price_decimals: int = 0
    qty_decimals: int = 0
    contract_size: str = "1"
    maker_fee_ppm: int = 0
    taker_fee_ppm: int = 0
    mark_band_ppm: int = 50_000
    basis_window_ns: int = 60_000_000_000
    twap_window_ns: int = 300_000_000_000
    reference_price: int | None = None
    max_position_notional: int = 10**15
    funding_interval_ns: int = 3_600_000_000_000
    funding_sample_ns: int = 60_000_000_000
    funding_cap_ppm: int = 0
    funding_interest_ppm: int = 0
    impact_notional: int = 0
    expiry_ts: int | None = None
    settlement_window_ns: int = 1_800_000_000_000
    breakers: tuple[tuple[str, object], ...] = ()
    option: object = None  # clearing.options.series.OptionSeries for kind "option"

    @property
    def im_tiers(self) -> TierSchedule:
        return _schedule(self.tiers, "imf_ppm")

    @property
    def mm_tiers(self) -> TierSchedule:
        return _schedule(self.tiers, "mmf_ppm")

    def matcher_instrument(self) -> Instrument:
        return Instrument(
            self.symbol,
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            min_qty=self.min_qty,
            max_qty=self.max_qty,
            price_decimals=self.price_decimals,
            qty_decimals=self.qty_decimals,
        )

    def notional(self, qty: int, price: int) -> int:
        return abs(qty) * price * self.multiplier


def _schedule(tiers: tuple[MarginTier, ...], rate: str) -> TierSchedule:
    bounds = [t.up_to for t in tiers[:-1]]
    return TierSchedule([b for b in bounds if b is not None], [getattr(t, rate) for t in tiers])


def trade_fee(notional: int, fee_ppm: int) -> int:
    """Fee charged on a trade: rounded up when paid, a rebate (negative) rounded down."""
    if fee_ppm >= 0:
        return -((-notional * fee_ppm) // PPM)
    return -((notional * -fee_ppm) // PPM)


def worst_fee_ppm(spec: InstrumentSpec, post_only: bool) -> int:
    """Fee rate reserved for a resting order: a rebate is never counted in advance."""
    rate = spec.maker_fee_ppm if post_only else max(spec.maker_fee_ppm, spec.taker_fee_ppm)
    return rate if rate > 0 else 0

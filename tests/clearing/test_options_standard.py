"""Standard (Deribit-style) option margin per leg, worked by hand from the issue's formulas.

S = 60,000 (forward), factors 0.15 / 0.10 / 0.075, multiplier 1 (one lot = one unit
of underlying, 1 price unit = 1 minor unit) unless a test says otherwise.
"""

from __future__ import annotations

import numpy as np

from clearing.options.standard import (
    StandardParams,
    lot_margins,
    position_margin,
    short_unit_margins,
)

P = StandardParams()


def _short(S: float, K: float, mark: float, call: bool) -> tuple[float, float]:
    im, mm = short_unit_margins(np.array([S]), np.array([K]), np.array([mark]),
                                np.array([call]), P)  # fmt: skip
    return float(im[0]), float(mm[0])


def test_short_otm_call() -> None:
    # OTM = 70,000 - 60,000 = 10,000; max(9,000 - 10,000, 6,000) + 500 = 6,500; MM 4,500 + 500
    assert _short(60_000, 70_000, 500, True) == (6_500, 5_000)


def test_short_itm_call() -> None:
    # OTM = 0: max(9,000, 6,000) + 10,400 = 19,400; MM = 4,500 + 10,400 = 14,900
    assert _short(60_000, 50_000, 10_400, True) == (19_400, 14_900)


def test_short_otm_put() -> None:
    # OTM = 60,000 - 55,000 = 5,000: max(9,000 - 5,000, 6,000) + 800 = 6,800
    # MM = max(4,500, 60) + 800 = 5,300; IM = max(6,800, 5,300) = 6,800
    assert _short(60_000, 55_000, 800, False) == (6_800, 5_300)


def test_short_deep_itm_put_mm_on_the_mark() -> None:
    # mark 70,000 (deep ITM): MM = max(4,500, 5,250) + 70,000 = 75,250
    # IM = max(max(9,000, 6,000) + 70,000, 75,250) = 79,000
    assert _short(60_000, 130_000, 70_000, False) == (79_000, 75_250)


def test_short_put_im_floor_is_mm() -> None:
    # factors where the IM formula falls below MM: IM = max(1,000 + 100, 4,600) = 4,600
    p = StandardParams(im_base_ppm=10_000, im_min_ppm=10_000, mm_ppm=75_000)
    im, mm = short_unit_margins(np.array([60_000.0]), np.array([50_000.0]),
                                np.array([100.0]), np.array([False]), p)  # fmt: skip
    assert (float(im[0]), float(mm[0])) == (4_600, 4_600)


def test_lot_and_position_figures_round_up() -> None:
    # multiplier 10 (e.g. 0.1 BTC lots in whole-USD price units at 1e-6 USD... scaled):
    long_im, short_im, short_mm = lot_margins(
        np.array([60_000.0]), np.array([70_000.0]), np.array([500.25]), np.array([True]),
        10, P)  # fmt: skip
    assert (int(long_im[0]), int(short_im[0]), int(short_mm[0])) == (5_003, 65_003, 50_003)
    assert position_margin(3, 5_003, 65_003, 50_003) == (15_009, 15_009)
    assert position_margin(-3, 5_003, 65_003, 50_003) == (195_009, 150_009)
    assert position_margin(0, 5_003, 65_003, 50_003) == (0, 0)

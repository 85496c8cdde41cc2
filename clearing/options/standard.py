"""Standard (Deribit-style) option margin, per leg, per option on one unit of underlying.

With ``S`` the forward used for pricing, ``mark`` the option's mark and the config
factors ``a = im_base`` (0.15), ``b = im_min`` (0.10), ``c = mm`` (0.075)::

    long (call or put):  IM = MM = mark          (a long never serves as collateral)
    short call:          IM = max(a·S - OTM, b·S) + mark        OTM = max(K - S, 0)
                         MM = c·S + mark
    short put:           MM = max(c·S, c·mark) + mark           OTM = max(S - K, 0)
                         IM = max(max(a·S - OTM, b·S) + mark, MM)

Per lot these are multiplied by the instrument multiplier and rounded **up** to minor
units. A position of ``q`` lots needs ``|q|`` times the per-lot figure of its side; a
long's IM is ``q·ceil(mark·m)`` against a value of ``q·floor(mark·m)``, so a long never
adds free collateral.

Perpetuals and futures keep their tiered IMF/MMF (``clearing.margin``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clearing.intmath import PPM
from clearing.options.money import ceil_lots


@dataclass(frozen=True, slots=True)
class StandardParams:
    im_base_ppm: int = 150_000
    im_min_ppm: int = 100_000
    mm_ppm: int = 75_000


def short_unit_margins(S: np.ndarray, K: np.ndarray, mark: np.ndarray, is_call: np.ndarray,
                       p: StandardParams) -> tuple[np.ndarray, np.ndarray]:
    """``(IM, MM)`` of one short option on one unit of underlying, in price units."""
    S = np.asarray(S, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    mark = np.asarray(mark, dtype=np.float64)
    a, b, c = p.im_base_ppm / PPM, p.im_min_ppm / PPM, p.mm_ppm / PPM
    otm = np.where(is_call, np.maximum(K - S, 0.0), np.maximum(S - K, 0.0))
    base = np.maximum(a * S - otm, b * S) + mark
    mm = np.where(is_call, c * S + mark, np.maximum(c * S, c * mark) + mark)
    im = np.where(is_call, base, np.maximum(base, mm))
    return im, mm


def lot_margins(S: np.ndarray, K: np.ndarray, mark: np.ndarray, is_call: np.ndarray,
                mult: np.ndarray | int, p: StandardParams) -> tuple[np.ndarray, ...]:
    """Per-lot integer figures ``(long_im, short_im, short_mm)`` (long MM = long IM)."""
    im, mm = short_unit_margins(S, K, mark, is_call, p)
    return ceil_lots(mark, mult), ceil_lots(im, mult), ceil_lots(mm, mult)


def position_margin(size: int, long_im: int, short_im: int, short_mm: int) -> tuple[int, int]:
    """``(IM, MM)`` of a position of ``size`` lots from the per-lot figures."""
    if size >= 0:
        return size * long_im, size * long_im
    return -size * short_im, -size * short_mm

"""An option ledger row's value and standard-mode charges, scalar and vectorised.

Per lot (integer minor units, from the last revaluation): ``lo``/``hi`` the value of a
long / the liability of a short at the mark, ``long_im`` (= ``hi``), ``short_im`` and
``short_mm`` (``clearing.options.standard``). For a row with position ``s`` and resting
buys ``bq, bv, bf`` / sells ``sq, sv, sf`` (as in ``clearing.margin``)::

    val = s·lo (s > 0)  or  s·hi (s < 0)                  value at the mark
    IM(x) = x·long_im (x ≥ 0)  or  |x|·short_im            MM likewise with short_mm
    im, mm = IM(s), MM(s)
    cb = IM(s + bq) + max(0, bv·m - bq·lo) + bf            all buys filled at their limits
    cs = IM(s - sq) + max(0, sq·hi - sv·m) + sf            all sells filled
    req = max(im, cb, cs)

A row of a portfolio-margined account carries no charges (its portfolio does).
"""

from __future__ import annotations

import numpy as np


def _im(x: int, long_im: int, short_im: int) -> int:
    return x * long_im if x >= 0 else -x * short_im


def row_charges(size: int, bq: int, bv: int, bf: int, sq: int, sv: int, sf: int, m: int,
                lo: int, hi: int, long_im: int, short_im: int, short_mm: int
                ) -> tuple[int, int, int, int, int, int]:
    """``(im, mm, cb, cs, req, val)`` of one option row (module docstring)."""
    im = _im(size, long_im, short_im)
    mm = size * long_im if size >= 0 else -size * short_mm
    cb = cs = im
    if bq:
        x = bv * m - bq * lo
        cb = _im(size + bq, long_im, short_im) + (x if x > 0 else 0) + bf
    if sq:
        x = sq * hi - sv * m
        cs = _im(size - sq, long_im, short_im) + (x if x > 0 else 0) + sf
    req = im if im > cb else cb
    if cs > req:
        req = cs
    return im, mm, cb, cs, req, size * (lo if size > 0 else hi)


def row_charges_vector(size: np.ndarray, bq: np.ndarray, bv: np.ndarray, bf: np.ndarray,
                       sq: np.ndarray, sv: np.ndarray, sf: np.ndarray, m: int, lo: int,
                       hi: int, long_im: int, short_im: int, short_mm: int
                       ) -> tuple[np.ndarray, ...]:
    """``row_charges`` over int64 arrays (one entry per ledger row)."""

    def im_of(x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x * long_im, -x * short_im)

    im = im_of(size)
    mm = np.where(size >= 0, size * long_im, -size * short_mm)
    cb = np.where(bq != 0, im_of(size + bq) + np.maximum(bv * m - bq * lo, 0) + bf, im)
    cs = np.where(sq != 0, im_of(size - sq) + np.maximum(sq * hi - sv * m, 0) + sf, im)
    req = np.maximum(np.maximum(im, cb), cs)
    val = np.where(size > 0, size * lo, size * hi)
    return im, mm, cb, cs, req, val

"""Mark-to-market: re-mark every holder of an instrument at once, vectorised with numpy.

When an instrument's mark moves from ``P`` to ``P'``, every ledger row (an account with a
position or resting orders in it) gets, over int64 arrays (zero-copy views of the ledger
and account columns):

    equity += size · (P' - P) · m
    im, mm, cb, cs, req  recomputed at P'       (margin.charges_vector)
    account IM, MM, REQ  += the row's change

Then the accounts that now need attention are picked with array comparisons and handled
one by one in account-id order: a margin call below the warning level, liquidation
below maintenance (strict), and the cancellation of risk-increasing resting orders where
equity no longer covers the requirement with holds (``liquidation.risk_cancel``).

The arrays are int64; the requirement arithmetic splits products at 1e6 so nothing
overflows while position notionals stay below the configured cap (1e15 minor units by
default). If a (very) large move could overflow, the rows are re-marked one by one with
exact Python ints instead.

An instrument with at most ``SMALL_ROWS`` rows is re-marked with plain Python ints, row by
row, with the very same arithmetic and the same picking rule: numpy's fixed cost per call
(about a hundred microseconds for the dozen array operations) would dominate, and the mark
moves with the book, so this runs on most orders. A test runs random flows both ways and
compares every state and output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clearing import liquidation
from clearing.events import MarkChanged
from clearing.intmath import PPM
from clearing.margin import charges_vector

if TYPE_CHECKING:
    from clearing.engine import ClearingEngine, InstrumentState

_LIMIT = float(1 << 61)
SMALL_ROWS = 32
"""Rows up to which the re-mark runs in Python ints rather than numpy (same results)."""


def _view(arr: object, n: int) -> np.ndarray:
    return np.frombuffer(arr, dtype=np.int64, count=n)  # type: ignore[call-overload]


def remark(eng: ClearingEngine, inst: InstrumentState, new: int, ts: int, out: list) -> None:
    """Move the instrument's mark to ``new`` and re-mark all its rows."""
    old = inst.mark
    inst.mark = new
    inst.marks.mark = new
    L = inst.ledger
    n = L.n
    out.append(MarkChanged(ts, inst.symbol, new, eng.index_of(inst), n))
    if n == 0:
        return
    m = inst.mult
    slots_list = remark_rows(eng, inst, old if old is not None else new, new, m, n)
    check_slots(eng, slots_list, ts, out)


def remark_rows(eng: ClearingEngine, inst: InstrumentState, old: int, new: int, m: int,
                n: int) -> list[int]:
    """Apply the re-mark to the arrays; return the slots that need a closer look."""
    if n <= SMALL_ROWS:
        return _remark_small(eng, inst, old, new, m, n)
    L = inst.ledger
    A = eng.table
    size = _view(L.size, n)
    bq, sq = _view(L.bq, n), _view(L.sq, n)
    biggest = float(np.abs(size).max(initial=0)) + float(bq.max(initial=0)) + float(
        sq.max(initial=0))
    if biggest * max(new, old) * m > _LIMIT:
        del size, bq, sq
        return _remark_python(eng, inst, old, new, m, n)
    slots = _view(L.slot, n)
    # portfolio rows carry no tier charges (clearing.options): with only those, none to
    # compute and none to move (theirs are zero before and after)
    pm = (eng.options.pm_mask[slots] if inst.pm_col is not None and eng.options.pm_slots
          else None)  # fmt: skip
    charged = pm is None or not pm.all()
    na = A.n
    eq_a, im_a, mm_a, req_a = (_view(A.eq, na), _view(A.im, na), _view(A.mm, na),
                               _view(A.req, na))  # fmt: skip
    if new != old:
        eq_a[slots] += size * ((new - old) * m)
    if charged:
        im, mm, cb, cs, req = charges_vector(
            inst.im_tiers, inst.mm_tiers, new, m, size, bq, _view(L.bv, n), _view(L.bf, n),
            sq, _view(L.sv, n), _view(L.sf, n))  # fmt: skip
        if pm is not None:
            for arr in (im, mm, cb, cs, req):
                arr[pm] = 0
        im_old, mm_old, req_old = _view(L.im, n), _view(L.mm, n), _view(L.req, n)
        im_a[slots] += im - im_old
        mm_a[slots] += mm - mm_old
        req_a[slots] += req - req_old
        im_old[:] = im
        mm_old[:] = mm
        req_old[:] = req
        _view(L.cb, n)[:] = cb
        _view(L.cs, n)[:] = cs
        del im, mm, cb, cs, req, im_old, mm_old, req_old
    E = eq_a[slots]
    MM = mm_a[slots]
    REQ = req_a[slots]
    ratio = eng.risk.margin_call_ratio_ppm
    q, rem = np.divmod(MM, PPM)
    warn = q * ratio + (rem * ratio + (PPM - 1)) // PPM
    flag = (warn > E) | ((E < REQ) & (im_a[slots] < REQ))
    picked = slots[flag].tolist()
    del size, bq, sq, slots, eq_a, im_a, mm_a, req_a, E, MM, REQ, q, rem, warn, flag
    return picked


def _remark_small(eng: ClearingEngine, inst: InstrumentState, old: int, new: int, m: int,
                  n: int) -> list[int]:
    """``remark_rows`` for a few rows, in Python ints: the same figures, the same picks."""
    L = inst.ledger
    A = eng.table
    eq, im_a, mm_a, req_a = A.eq, A.im, A.mm, A.req
    size, slot_of = L.size, L.slot
    d = (new - old) * m
    refresh = eng.refresh_row
    # rows of portfolio-margin accounts carry no tier charges (as in the numpy sweep)
    pm = eng.options.pm_slots if inst.pm_col is not None and eng.options is not None else ()
    for r in range(n):
        slot = slot_of[r]
        if d:
            eq[slot] += size[r] * d
        if slot in pm:
            im_a[slot] -= L.im[r]
            mm_a[slot] -= L.mm[r]
            req_a[slot] -= L.req[r]
            L.im[r] = L.mm[r] = L.cb[r] = L.cs[r] = L.req[r] = 0
        else:
            refresh(inst, r)
    ratio = eng.risk.margin_call_ratio_ppm
    picked = []
    for r in range(n):
        slot = slot_of[r]
        E, MM, REQ = eq[slot], mm_a[slot], req_a[slot]
        q, rem = divmod(MM, PPM)
        if q * ratio + (rem * ratio + (PPM - 1)) // PPM > E or (E < REQ and im_a[slot] < REQ):
            picked.append(slot)
    return picked


def _remark_python(eng: ClearingEngine, inst: InstrumentState, old: int, new: int, m: int,
                   n: int) -> list[int]:
    L = inst.ledger
    picked = []
    for r in range(n):
        slot = L.slot[r]
        eng.table.eq[slot] += L.size[r] * (new - old) * m
        eng.refresh_row(inst, r)
        picked.append(slot)
    return picked


def check_slots(eng: ClearingEngine, slots: list[int], ts: int, out: list) -> None:
    """Margin calls, liquidations and risk cancels for the picked accounts (by id)."""
    accts = sorted((eng.by_slot[s] for s in slots), key=lambda a: a.id)
    called = [eng.accounts[a] for a in sorted(eng.margin_called)]
    for acct in accts:
        liquidation.check_account(eng, acct, ts, out)
        liquidation.risk_cancel(eng, acct, ts, out)
    for acct in called:  # recovered accounts re-arm their margin call
        liquidation.check_account(eng, acct, ts, out)

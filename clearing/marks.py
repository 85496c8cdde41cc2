"""Mark prices: the robust median with a basis EMA, clamped to a band around the index.

For an instrument with an index (perpetuals and dated futures)::

    mark = median(index, index + basis_ema, median(best bid, best ask, last trade))
    mark = clamp(mark, ceil(index·(1 - band)), floor(index·(1 + band)))

``basis_ema`` smooths ``mid - index`` over ``basis_window_ns``: at each update the
previous sample is folded in with weight ``min(dt, W) / W`` (integer, floor). Inputs that
do not exist yet are left out (median of what there is; an even count takes the floor of
the two middles' mean). While the instrument is halted the mark is the index.

For an instrument without an index: the time-weighted average of the mid over
``twap_window_ns`` (mid held constant between changes), else the last trade, else the
configured reference price. While halted it stays where it was.
"""

from __future__ import annotations

from clearing.instruments import InstrumentSpec
from clearing.intmath import PPM, median_int
from clearing.shadowbook import ShadowBook


class MarkState:
    __slots__ = ("basis_ema", "basis_last", "basis_ts", "last_trade", "mark", "mids")

    def __init__(self) -> None:
        self.mark: int | None = None
        self.basis_ema: int | None = None
        self.basis_last: int | None = None
        self.basis_ts = 0
        self.mids: list[list[int]] = []
        self.last_trade: int | None = None

    def export(self) -> dict:
        return {"mark": self.mark, "basis_ema": self.basis_ema, "basis_last": self.basis_last,
                "basis_ts": self.basis_ts, "mids": [list(m) for m in self.mids],
                "last_trade": self.last_trade}  # fmt: skip

    @classmethod
    def restore(cls, d: dict) -> MarkState:
        m = cls()
        m.mark = d["mark"]
        m.basis_ema = d["basis_ema"]
        m.basis_last = d["basis_last"]
        m.basis_ts = d["basis_ts"]
        m.mids = [list(x) for x in d["mids"]]
        m.last_trade = d["last_trade"]
        return m


def update_basis(ms: MarkState, ts: int, index: int, mid: int | None, window: int) -> None:
    """Fold the previous basis sample into the EMA, then remember the current one."""
    sample = None if mid is None else mid - index
    if ms.basis_ema is None:
        ms.basis_ema = sample
    elif ms.basis_last is not None:
        w = min(max(ts - ms.basis_ts, 0), window)
        ms.basis_ema += ((ms.basis_last - ms.basis_ema) * w) // window
    ms.basis_last = sample
    ms.basis_ts = ts


def clamp_to_band(mark: int, index: int, band_ppm: int) -> int:
    low = -((-index * (PPM - band_ppm)) // PPM)
    high = (index * (PPM + band_ppm)) // PPM
    low = max(low, 1)
    return low if mark < low else high if mark > high else mark


def index_mark(index: int, basis_ema: int | None, bid: int | None, ask: int | None,
               last: int | None, band_ppm: int) -> int:
    """The median-of-three mark, clamped (pure; see the module docstring)."""
    comps = [index]
    if basis_ema is not None:
        comps.append(index + basis_ema)
    book = [v for v in (bid, ask, last) if v is not None]
    if book:
        comps.append(median_int(book))
    return clamp_to_band(median_int(comps), index, band_ppm)


def record_mid(ms: MarkState, ts: int, mid: int | None, window: int) -> None:
    """Note the mid at ``ts`` (a change point) and forget points older than the window."""
    mids = ms.mids
    if mid is not None and (not mids or mids[-1][1] != mid):
        if mids and mids[-1][0] == ts:
            mids[-1][1] = mid
        else:
            mids.append([ts, mid])
    start = ts - window
    while len(mids) > 1 and mids[1][0] <= start:
        mids.pop(0)


def twap(mids: list[list[int]], ts: int, window: int) -> int | None:
    """Time-weighted average of the mid over ``[ts - window, ts]`` (floor); None if empty."""
    if not mids:
        return None
    start = ts - window
    total = 0
    weight = 0
    for i, (t0, mid) in enumerate(mids):
        t1 = mids[i + 1][0] if i + 1 < len(mids) else ts
        a = max(t0, start)
        if t1 > a:
            total += mid * (t1 - a)
            weight += t1 - a
    if weight == 0:
        return mids[-1][1]
    return total // weight


def compute_mark(ms: MarkState, spec: InstrumentSpec, ts: int, index: int | None,
                 book: ShadowBook, halted: bool) -> int | None:
    """The instrument's mark now (updates the smoothing state as a side effect)."""
    if spec.index is not None:
        if index is None:
            return ms.mark
        if halted:
            return index
        update_basis(ms, ts, index, book.mid(), spec.basis_window_ns)
        return index_mark(index, ms.basis_ema, book.best_bid, book.best_ask, ms.last_trade,
                          spec.mark_band_ppm)  # fmt: skip
    if halted:
        return ms.mark
    record_mid(ms, ts, book.mid(), spec.twap_window_ns)
    value = twap(ms.mids, ts, spec.twap_window_ns)
    if value is None:
        value = ms.last_trade if ms.last_trade is not None else spec.reference_price
    return value

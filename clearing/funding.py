"""Perpetual funding through a cumulative funding index, settled at every funding tick.

Every ``funding_sample_ns`` (aligned to multiples of it) a premium sample is taken from
the shadow book, in ppm of the index (risk.md §2.4)::

    premium = (max(0, impact_bid - index) - max(0, index - impact_ask)) · 1e6 // index

with impact prices for ``impact_notional`` (a missing side counts as no premium). At
every ``funding_interval_ns`` tick the samples are averaged (floor) and turned into the
interval's rate under the 8-hour-rate convention, clamped::

    rate = clamp(avg · interval / 8h + interest_ppm, -cap, +cap)       (ppm per interval)

The cumulative index (minor units · 1e-9 per quantity unit) grows by
``rate · index_price · m · 1000``; each open position pays ``ceil(size · Δindex / 1e9)``
(a long pays when the rate is positive, a short receives; the ceiling rounds against
the account either way). Payments are made to every holder at the tick, so the sum of
payments is the rounding residue (>= 0), which goes to the insurance fund and keeps
conservation exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.events import FundingApplied
from clearing.intmath import PPM

if TYPE_CHECKING:
    from clearing.engine import ClearingEngine, InstrumentState

EIGHT_HOURS_NS = 8 * 3_600_000_000_000
INDEX_SCALE = 1_000_000_000


class FundingState:
    __slots__ = (
        "index",
        "last_rate",
        "next_funding",
        "next_sample",
        "sample_count",
        "sample_sum",
    )  # fmt: skip

    def __init__(self) -> None:
        self.index = 0
        self.next_sample = 0
        self.next_funding = 0
        self.sample_sum = 0
        self.sample_count = 0
        self.last_rate = 0

    def export(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def restore(cls, d: dict) -> FundingState:
        f = cls()
        for k in cls.__slots__:
            setattr(f, k, d[k])
        return f


def premium_ppm(eng: ClearingEngine, inst: InstrumentState) -> int:
    index = eng.index_of(inst) or inst.mark
    if not index:
        return 0
    n = inst.spec.impact_notional
    ib = inst.book.impact_price(1, n, inst.mult)
    ia = inst.book.impact_price(-1, n, inst.mult)
    up = max(0, ib - index) if ib is not None else 0
    down = max(0, index - ia) if ia is not None else 0
    return (up - down) * PPM // index


def interval_rate(avg_premium_ppm: int, interval_ns: int, interest_ppm: int, cap_ppm: int) -> int:
    rate = avg_premium_ppm * interval_ns // EIGHT_HOURS_NS + interest_ppm
    return -cap_ppm if rate < -cap_ppm else cap_ppm if rate > cap_ppm else rate


def run_timers(eng: ClearingEngine, inst: InstrumentState, ts: int, out: list) -> None:
    st = inst.funding
    assert st is not None
    spec = inst.spec
    step, interval = spec.funding_sample_ns, spec.funding_interval_ns
    if st.next_funding == 0:
        st.next_sample = (ts // step + 1) * step
        st.next_funding = (ts // interval + 1) * interval
        return
    while True:
        if st.next_sample <= ts and st.next_sample <= st.next_funding:
            due = (min(ts, st.next_funding) - st.next_sample) // step + 1
            value = premium_ppm(eng, inst)
            st.sample_sum += value * due
            st.sample_count += due
            st.next_sample += due * step
        elif st.next_funding <= ts:
            apply_funding(eng, inst, st.next_funding, out)
            st.next_funding += interval
        else:
            return


def apply_funding(eng: ClearingEngine, inst: InstrumentState, ts: int, out: list) -> None:
    st = inst.funding
    assert st is not None
    spec = inst.spec
    avg = st.sample_sum // st.sample_count if st.sample_count else 0
    st.sample_sum = st.sample_count = 0
    rate = interval_rate(avg, spec.funding_interval_ns, spec.funding_interest_ppm,
                         spec.funding_cap_ppm)  # fmt: skip
    st.last_rate = rate
    price = eng.index_of(inst) or inst.mark
    if not price or rate == 0:
        out.append(FundingApplied(ts, inst.symbol, rate, 0, st.index, 0, 0))
        return
    delta = rate * price * inst.mult * (INDEX_SCALE // PPM)
    st.index += delta
    L = inst.ledger
    residue = 0
    paid = 0
    for r in range(L.n):
        size = L.size[r]
        if not size:
            continue
        acct = eng.by_slot[L.slot[r]]
        pay = -((-size * delta) // INDEX_SCALE)
        eng.add_cash(acct, -pay)
        pos = acct.positions[inst.symbol]
        pos.funding_paid += pay
        pos.funding_index = st.index
        residue += pay
        paid += 1
    eng.insurance_fund[eng.settle] += residue
    out.append(FundingApplied(ts, inst.symbol, rate, delta, st.index, paid, residue))

"""Perpetual funding: premium samples, the interval rate and the payments at each tick.

Every ``funding_sample_ns`` (aligned to multiples of it) a premium sample is taken from
the shadow book, in ppm of the index (risk.md §2.4)::

    premium = (max(0, impact_bid - index) - max(0, index - impact_ask)) · 1e6 / index

with impact prices for ``impact_notional`` (a missing side counts as no premium). At
every ``funding_interval_ns`` tick the samples are averaged and turned into the
interval's rate under the 8-hour-rate convention, clamped::

    rate = clamp(avg · interval / 8h + interest_ppm, -cap, +cap)       (ppm per interval)

The premium, the average and the rate are exact fractions (``fractions.Fraction``) until
the payment: nothing is floored to whole ppm (a floored rate always favoured longs, up
to 1 ppm of notional per interval). The state keeps each sample exactly as its integer
numerator and index (``samples``: ``[up - down, index, repeats]``, at most one interval's
worth), so a snapshot holds only bounded integers; the sum is formed at the payment.
Each open position then pays ``ceil(size · rate · index_price · m / 1e6)``: a payment
is rounded up for the payer, a receipt down for the receiver (a long pays when the rate
is positive). Payments are made to every holder at the tick, so their sum is the rounding
residue (>= 0), which goes to the insurance fund and keeps conservation exact.

The cumulative index (minor units · 1e-9 per quantity unit, rounded down), the reported
``rate_ppm``/``rate_ppb`` and ``last_rate`` (ppb, truncated) are for display and for the
portfolio margin's funding provision; no payment depends on them.
"""

from __future__ import annotations

from fractions import Fraction
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
        "samples",
    )  # fmt: skip

    def __init__(self) -> None:
        self.index = 0
        self.next_sample = 0
        self.next_funding = 0
        self.samples: list[list[int]] = []  # [up - down, index, repeats] of this interval
        self.last_rate = 0  # ppb, truncated

    def export(self) -> dict:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["samples"] = [list(x) for x in self.samples]
        return d

    @classmethod
    def restore(cls, d: dict) -> FundingState:
        if "samples" not in d:  # a state written before exact samples: ppm sum and count
            d = {**d, "last_rate": d["last_rate"] * 1000,
                 "samples": [[d["sample_sum"], PPM * d["sample_count"], d["sample_count"]]]
                 if d["sample_count"] else []}  # fmt: skip
        f = cls()
        for k in cls.__slots__:
            setattr(f, k, d[k])
        f.samples = [list(x) for x in d["samples"]]
        return f


def premium_sample(eng: ClearingEngine, inst: InstrumentState) -> tuple[int, int]:
    """The premium sample as ``(up - down, index)``: ``(up - down)/index`` exactly."""
    index = eng.index_of(inst) or inst.mark
    if not index:
        return 0, 1
    n = inst.spec.impact_notional
    ib = inst.book.impact_price(1, n, inst.mult)
    ia = inst.book.impact_price(-1, n, inst.mult)
    up = max(0, ib - index) if ib is not None else 0
    down = max(0, index - ia) if ia is not None else 0
    return up - down, index


def premium_ppm(eng: ClearingEngine, inst: InstrumentState) -> Fraction:
    """The premium sample, in ppm of the index, exactly."""
    num, index = premium_sample(eng, inst)
    return Fraction(num * PPM, index)


def interval_rate(avg_premium_ppm: Fraction | int, interval_ns: int, interest_ppm: int,
                  cap_ppm: int) -> Fraction:
    """The interval's rate in ppm of notional, exactly (a fraction, clamped)."""
    rate = Fraction(avg_premium_ppm) * interval_ns / EIGHT_HOURS_NS + interest_ppm
    return Fraction(-cap_ppm) if rate < -cap_ppm else Fraction(cap_ppm) if rate > cap_ppm else rate


def payment(size: int, rate_ppm: Fraction, price: int, mult: int) -> int:
    """What a position pays (negative: receives), rounded up: against the payer."""
    num = size * rate_ppm.numerator * price * mult
    return -((-num) // (rate_ppm.denominator * PPM))


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
            num, index = premium_sample(eng, inst)
            last = st.samples[-1] if st.samples else None
            if last is not None and last[0] * index == num * last[1]:
                last[2] += due  # the same premium again
            else:
                st.samples.append([num, index, due])
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
    count = sum(c for _, _, c in st.samples)
    total = sum((Fraction(num * PPM * c, index) for num, index, c in st.samples), Fraction(0))
    avg = total / count if count else Fraction(0)
    st.samples = []
    rate = interval_rate(avg, spec.funding_interval_ns, spec.funding_interest_ppm,
                         spec.funding_cap_ppm)  # fmt: skip
    rate_ppm, rate_ppb = int(rate), int(rate * 1000)  # truncated, for display
    st.last_rate = rate_ppb
    price = eng.index_of(inst) or inst.mark
    if not price or rate == 0:
        out.append(FundingApplied(ts, inst.symbol, rate_ppm, 0, st.index, 0, 0, rate_ppb))
        return
    delta = (rate * price * inst.mult * (INDEX_SCALE // PPM)).__floor__()
    st.index += delta
    L = inst.ledger
    residue = 0
    paid = 0
    for r in range(L.n):
        size = L.size[r]
        if not size:
            continue
        acct = eng.by_slot[L.slot[r]]
        pay = payment(size, rate, price, inst.mult)
        eng.add_cash(acct, -pay)
        pos = acct.positions[inst.symbol]
        pos.funding_paid += pay
        pos.funding_index = st.index
        residue += pay
        paid += 1
    eng.insurance_fund[eng.settle] += residue
    out.append(FundingApplied(ts, inst.symbol, rate_ppm, delta, st.index, paid, residue,
                              rate_ppb))  # fmt: skip

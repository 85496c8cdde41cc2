"""Dated futures: final settlement at expiry at a time-weighted average of the index.

The index is followed over ``[expiry - settlement_window_ns, expiry]`` (each value held
until the next update); at the first command at or after ``expiry_ts`` the settlement
price is ``floor(sum(price · duration) / window covered)`` (the last index, else the
mark, if nothing was seen in the window). Then, in one step: the instrument is halted
(``Halt`` to the matcher) and its resting orders cancelled, every open position is closed
at the settlement price (cash moves ``size · price · m`` to the holder, no fee) and the
instrument refuses new orders (``INSTRUMENT_EXPIRED``). Longs and shorts are equal in
number, so the cash moved sums to zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.events import FutureSettled
from clearing.positions import apply_trade
from matching.commands import CancelOrder, Halt
from matching.enums import EndReason

if TYPE_CHECKING:
    from clearing.engine import ClearingEngine, InstrumentState


class ExpiryState:
    __slots__ = ("acc_dur", "acc_sum", "last_ts", "price")

    def __init__(self) -> None:
        self.acc_sum = 0
        self.acc_dur = 0
        self.last_ts = 0
        self.price: int | None = None

    def export(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def restore(cls, d: dict) -> ExpiryState:
        e = cls()
        for k in cls.__slots__:
            setattr(e, k, d[k])
        return e


def _accumulate(inst: InstrumentState, until: int, price: int | None) -> None:
    st = inst.expiry
    spec = inst.spec
    assert st is not None and spec.expiry_ts is not None
    start = spec.expiry_ts - spec.settlement_window_ns
    a = max(st.last_ts, start)
    b = min(until, spec.expiry_ts)
    if price is not None and b > a:
        st.acc_sum += price * (b - a)
        st.acc_dur += b - a
    st.last_ts = max(st.last_ts, until)


def on_index(inst: InstrumentState, ts: int, previous: int | None) -> None:
    """The index is about to change at ``ts``: book the previous value's time."""
    _accumulate(inst, ts, previous)


def settlement_price(eng: ClearingEngine, inst: InstrumentState) -> int:
    st = inst.expiry
    assert st is not None
    if st.acc_dur:
        return st.acc_sum // st.acc_dur
    return eng.index_of(inst) or inst.mark or inst.spec.tick_size


def run_timers(eng: ClearingEngine, inst: InstrumentState, ts: int, out: list) -> None:
    spec = inst.spec
    assert spec.expiry_ts is not None
    if ts < spec.expiry_ts or inst.expired:
        return
    _accumulate(inst, spec.expiry_ts, eng.index_of(inst))
    price = settlement_price(eng, inst)
    if inst.opt is not None:  # an option pays its intrinsic value (clearing.options)
        eng.options.settle_expiry(inst, price, ts, out)
        return
    settle(eng, inst, price, ts, out)


def settle(eng: ClearingEngine, inst: InstrumentState, price: int, ts: int, out: list) -> None:
    st = inst.expiry
    assert st is not None
    st.price = price
    inst.expired = True
    sym = inst.symbol
    out.append(Halt(ts, sym, "expired"))
    for oid in sorted(eng.orders):
        o = eng.orders[oid]
        if o.symbol == sym and not o.cancel_pending:
            o.cancel_pending = True
            out.append(CancelOrder(ts, sym, oid, o.account, int(EndReason.RISK)))
    L = inst.ledger
    m = inst.mult
    old = inst.mark if inst.mark is not None else price
    inst.mark = price
    inst.marks.mark = price
    closed = 0
    for r in range(L.n):
        size = L.size[r]
        acct = eng.by_slot[L.slot[r]]
        if size:
            eng.table.eq[acct.slot] += size * (price - old) * m
            size2, cost2, realized = apply_trade(size, L.cost[r], -size, price, m)
            eng.add_cash(acct, size * price * m)
            eng.table.eq[acct.slot] -= size * price * m
            L.size[r], L.cost[r] = size2, cost2
            acct.positions[sym].realized_pnl += realized
            closed += 1
        eng.refresh_row(inst, r)
    out.append(FutureSettled(ts, sym, price, closed))

"""Liquidation: margin calls, the liquidation ladder, insurance fund, auto-deleveraging.

Trigger (risk.md §3, dYdX ``risk.go``): ``E < MM`` strictly, checked after every fill
and for every account a mark change touches. A ``MarginCall`` goes out first, once, when
equity falls below ``MM · margin_call_ratio`` (re-armed when it recovers).

Ladder, for an account under maintenance:

1. Cancel all its resting orders (``CancelOrder`` reason LIQUIDATION); new orders are
   refused with ``ACCOUNT_IN_LIQUIDATION`` until it ends.
2. Pick the position with the largest maintenance margin (ties: symbol) in an
   instrument that is not halted, and close ``step`` of it (``liquidation_step_ppm`` of
   the position, lot-rounded up) with an IOC reduce-only order at limit ``L``:

   - bankruptcy price ``p_b``: the price at which closing the step leaves E/MM unchanged
     (dYdX): the account must receive ``|Δ|·P·m - floor(E·ΔMM/MM)`` for a sale and may pay
     at most ``|Δ|·P·m + floor(E·ΔMM/MM)`` for a purchase; rounded to the tick against
     the order (up for a sale, down for a purchase);
   - fillable price ``p_f = P ∓ ABR·SMMR·MM_pos/(|s|·m)`` with
     ``ABR = clamp(BA·(1 - E/MM), 0, 1)``;
   - ``L = max(p_f, p_b - budget)`` for a sale (``min(p_f, p_b + budget)`` for a
     purchase), where ``budget = insurance_fund // (|Δ|·m)`` is how far below the
     bankruptcy price the insurance fund can carry the fill. With an empty fund the
     limit is never worse than the bankruptcy price.
3. Each liquidation fill pays no trading fee. Against ``p_b``: a surplus pays the
   liquidation fee ``min(fee_ppm · notional, surplus)`` to the insurance fund; a
   shortfall is paid to the account by the insurance fund.
4. If the book has no liquidity at ``L`` (or the IOC leaves a remainder), the rest is
   auto-deleveraged at the bankruptcy price against opposing positions ranked by
   ``uPnL · notional / E²`` (profit x leverage), highest first, ties by account id;
   accounts with ``E <= 0`` come last. No fees.
5. Repeat until ``E >= MM`` (outcome ``recovered``) or nothing is left (``closed``);
   then negative equity is covered by the insurance fund as far as it goes, and any rest
   is reported as ``BadDebt``. While an instrument is halted no liquidation order or ADL
   happens in it; the account waits and resumes when the instrument trades again.

``risk_cancel``: on a mark change, an account whose equity no longer covers its
requirement with holds has its risk-increasing resting orders cancelled (reason RISK);
orders that only reduce a position stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.events import (
    AutoDeleveraged,
    BadDebt,
    InsuranceFundPaid,
    LiquidationEnded,
    LiquidationFee,
    LiquidationOrderPlaced,
    LiquidationStarted,
    MarginCall,
    RiskCancel,
)
from clearing.intmath import PPM, round_down_to, round_up_to
from clearing.margin import warning_level
from clearing.orders import Order
from matching.commands import CancelOrder, NewOrder
from matching.enums import EndReason, OrdType, StpMode, TimeInForce

if TYPE_CHECKING:
    from clearing.accounts import Account
    from clearing.engine import ClearingEngine, InstrumentState

_LIQ = int(EndReason.LIQUIDATION)
_RISK = int(EndReason.RISK)


class LiqState:
    __slots__ = ("account", "order_id", "waiting")

    def __init__(self, account: int) -> None:
        self.account = account
        self.order_id: int | None = None
        self.waiting = False


# -- pure price formulas -------------------------------------------------------------


def bankruptcy_price(size: int, qty: int, mark: int, mult: int, equity: int, total_mm: int,
                     pos_mm_before: int, pos_mm_after: int, tick: int) -> int:
    """Price at which closing ``qty`` of ``size`` keeps E/MM unchanged (module docstring).

    For a sale the result is at least one tick; for a purchase it may be 0 or less when
    no price can keep the ratio (the account owes more than the position is worth).
    """
    dmm = pos_mm_before - pos_mm_after
    share = (equity * dmm) // total_mm if total_mm > 0 else equity
    notional = qty * mark * mult
    unit = qty * mult
    if size > 0:
        need = notional - share
        return max(round_up_to(-((-need) // unit), tick), tick)
    cap = notional + share
    return round_down_to(cap // unit, tick)


def fillable_price(size: int, mark: int, mult: int, equity: int, total_mm: int, pos_mm: int,
                   ba_ppm: int, smmr_ppm: int, tick: int) -> int:
    """dYdX's fillable price: the mark moved against the position by ABR·SMMR·MM_pos."""
    if total_mm <= 0:
        return mark
    abr = ba_ppm * (total_mm - equity) // total_mm
    abr = 0 if abr < 0 else PPM if abr > PPM else abr
    offset = (abr * smmr_ppm * pos_mm // (PPM * PPM)) // (abs(size) * mult)
    if size > 0:
        return max(round_up_to(mark - offset, tick), tick)
    return round_down_to(mark + offset, tick)


def liquidation_price(equity: int, total_mm: int, size: int, mark: int, mult: int,
                      pos_mm: int, mm_of: object) -> int | None:
    """The mark of this instrument at which the account becomes liquidatable.

    Other positions and their marks held fixed: the highest price (long) / lowest price
    (short) with ``E(p) < MM(p)``. ``mm_of(notional)`` is the instrument's MM schedule.
    None if no positive price qualifies (a short's search stops at 2^53).
    """
    if size == 0:
        return None
    other = total_mm - pos_mm

    def liq(p: int) -> bool:
        return equity + size * (p - mark) * mult < other + mm_of(abs(size) * p * mult)  # type: ignore[operator]

    if size > 0:
        if liq(mark):
            return mark
        lo, hi = 1, mark  # liq(hi) false
        if not liq(lo):
            return None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if liq(mid):
                lo = mid
            else:
                hi = mid
        return lo
    if liq(mark):
        return mark
    lo, hi = mark, 1 << 53  # liq(lo) false
    if not liq(hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if liq(mid):
            hi = mid
        else:
            lo = mid
    return hi


# -- triggers --------------------------------------------------------------------------


def check_account(eng: ClearingEngine, acct: Account, ts: int, out: list) -> None:
    """Margin call and liquidation trigger for one account at the current marks."""
    A, s = eng.table, acct.slot
    E, MM = A.eq[s], A.mm[s]
    level = warning_level(MM, eng.risk.margin_call_ratio_ppm)
    if MM > 0 and level > E:
        if acct.id not in eng.margin_called:
            eng.margin_called.add(acct.id)
            out.append(MarginCall(ts, acct.id, E, MM, level))
    else:
        eng.margin_called.discard(acct.id)
    if E < MM and acct.id not in eng.liquidations:
        start(eng, acct, ts, out)


def _reducing(eng: ClearingEngine, order: Order) -> bool:
    if order.reduce_only:
        return True
    inst = eng.instruments[order.symbol]
    r = inst.ledger.row_of.get(eng.accounts[order.account].slot)
    s = inst.ledger.size[r] if r is not None else 0
    return s != 0 and (s > 0) != (order.side > 0) and order.leaves <= abs(s)


def risk_cancel(eng: ClearingEngine, acct: Account, ts: int, out: list) -> None:
    A, s = eng.table, acct.slot
    if A.eq[s] >= A.req[s] or acct.id in eng.liquidations:
        return
    victims = [o for o in sorted(acct.orders.values(), key=lambda o: o.order_id)
               if not o.cancel_pending and not o.liquidation and not _reducing(eng, o)]
    if not victims:
        return
    for o in victims:
        o.cancel_pending = True
        out.append(CancelOrder(ts, o.symbol, o.order_id, acct.id, _RISK))
    out.append(RiskCancel(ts, acct.id, tuple(o.order_id for o in victims), A.eq[s], A.req[s]))


# -- the ladder ------------------------------------------------------------------------


def start(eng: ClearingEngine, acct: Account, ts: int, out: list) -> None:
    A, s = eng.table, acct.slot
    eng.counters["liquidations"] += 1
    st = LiqState(acct.id)
    eng.liquidations[acct.id] = st
    out.append(LiquidationStarted(ts, acct.id, A.eq[s], A.mm[s]))
    for o in sorted(acct.orders.values(), key=lambda o: o.order_id):
        if not o.liquidation and not o.cancel_pending:
            o.cancel_pending = True
            out.append(CancelOrder(ts, o.symbol, o.order_id, acct.id, _LIQ))
    advance(eng, st, ts, out)


def retry_waiting(eng: ClearingEngine, ts: int, out: list) -> None:
    for aid in sorted(eng.liquidations):
        st = eng.liquidations.get(aid)
        if st is not None and st.waiting and st.order_id is None:
            advance(eng, st, ts, out)


def _positions(eng: ClearingEngine, acct: Account) -> list[tuple[InstrumentState, int]]:
    found = []
    for sym in sorted(acct.positions):
        inst = eng.instruments[sym]
        r = inst.ledger.row_of[acct.slot]
        if inst.ledger.size[r]:
            found.append((inst, r))
    return found


def advance(eng: ClearingEngine, st: LiqState, ts: int, out: list) -> None:
    """Take the next step of the ladder (or finish)."""
    acct = eng.accounts[st.account]
    if eng.options is not None:
        from clearing.options import liquidation as options_ladder

        if options_ladder.applies(eng, acct):  # options or a portfolio: their own ladder
            return options_ladder.advance(eng, st, ts, out)
    A, slot = eng.table, acct.slot
    for _ in range(10_000):
        if st.order_id is not None:
            return
        E, MM = A.eq[slot], A.mm[slot]
        held = _positions(eng, acct)
        if not held:
            return finish(eng, st, ts, out, "closed")
        if E >= MM:
            return finish(eng, st, ts, out, "recovered")
        open_ = [(inst, r) for inst, r in held if not eng.halted(inst)]
        if not open_:
            st.waiting = True
            return None
        st.waiting = False
        inst, r = max(open_, key=lambda ir: (ir[0].ledger.mm[ir[1]], -_rank(ir[0].symbol)))
        if _step(eng, st, acct, inst, r, ts, out):
            return None
    return None


def _rank(symbol: str) -> int:
    return int.from_bytes(symbol.encode()[:16].ljust(16, b"\0"), "big")


def _step_qty(eng: ClearingEngine, inst: InstrumentState, size: int) -> int:
    spec = inst.spec
    held = abs(size)
    step = eng.risk.liquidation_step_ppm
    qty = held if step >= PPM else min(held, max(spec.lot_size, round_up_to(
        -((-held * step) // PPM), spec.lot_size)))  # fmt: skip
    return min(qty, spec.max_qty)


def _bankruptcy(eng: ClearingEngine, acct: Account, inst: InstrumentState, r: int,
                qty: int) -> int:
    L = inst.ledger
    size = L.size[r]
    mark = inst.mark or 0
    after = abs(size) - qty
    mm_after = inst.mm_tiers(after * mark * inst.mult)
    return bankruptcy_price(size, qty, mark, inst.mult, eng.table.eq[acct.slot],
                            eng.table.mm[acct.slot], L.mm[r], mm_after, inst.spec.tick_size)


def _step(eng: ClearingEngine, st: LiqState, acct: Account, inst: InstrumentState, r: int,
          ts: int, out: list) -> bool:
    """Place one liquidation order (True: wait for it) or deleverage at once (False)."""
    L = inst.ledger
    spec = inst.spec
    size = L.size[r]
    qty = _step_qty(eng, inst, size)
    side = -1 if size > 0 else 1
    p_b = _bankruptcy(eng, acct, inst, r, qty)
    mark = inst.mark or 0
    E, MM = eng.table.eq[acct.slot], eng.table.mm[acct.slot]
    risk = eng.risk
    p_f = fillable_price(size, mark, inst.mult, E, MM, L.mm[r], risk.bankruptcy_adjustment_ppm,
                         risk.spread_to_mm_ppm, spec.tick_size)  # fmt: skip
    budget = eng.insurance_fund[eng.settle] // (qty * inst.mult)
    tick = spec.tick_size
    if side < 0:
        limit = max(p_f, round_up_to(p_b - budget, tick), tick)
        if inst.band_low is not None:
            limit = max(limit, round_up_to(inst.band_low, tick))
    else:
        limit = min(p_f, round_down_to(p_b + budget, tick))
        if inst.band_high is not None:
            limit = min(limit, round_down_to(inst.band_high, tick))
    book_side = 1 if side < 0 else -1
    if limit <= 0 or qty < spec.min_qty or inst.book.liquidity(book_side, limit) == 0:
        adl(eng, acct, inst, r, qty, ts, out)
        return False
    oid = eng.next_order_id
    eng.next_order_id = oid + 1
    clid = f"liq-{oid}"
    order = Order(oid, acct.id, inst.symbol, side, limit, qty, 0, 0, 0, True, clid,
                  liquidation=True, bankruptcy_price=p_b)  # fmt: skip
    eng.orders[oid] = order
    acct.orders[oid] = order
    st.order_id = oid
    out.append(NewOrder(ts, inst.symbol, oid, acct.id, side, qty, limit, int(OrdType.LIMIT),
                        int(TimeInForce.IOC), clid, False, True, int(StpMode.EXPIRE_MAKER), 0))
    out.append(LiquidationOrderPlaced(ts, acct.id, inst.symbol, oid, side, qty, limit, p_b))
    return True


def on_fill(eng: ClearingEngine, inst: InstrumentState, acct: Account, order: Order, qty: int,
            price: int, ts: int, out: list) -> None:
    """Fee or insurance payment of one liquidation fill, measured against p_b."""
    if eng.options is not None and order.order_id in eng.options.ladder_orders:
        return  # the options ladder trades within its band, without a fee
    m = inst.mult
    surplus = -order.side * (price - order.bankruptcy_price) * qty * m
    fee = 0
    shortfall = 0
    settle = eng.settle
    if surplus > 0:
        fee = min(-((-qty * price * m * eng.risk.liquidation_fee_ppm) // PPM), surplus)
        eng.add_cash(acct, -fee)
        eng.insurance_fund[settle] += fee
    elif surplus < 0:
        shortfall = min(-surplus, eng.insurance_fund[settle])
        eng.insurance_fund[settle] -= shortfall
        eng.add_cash(acct, shortfall)
    out.append(LiquidationFee(ts, acct.id, inst.symbol, qty, price, order.bankruptcy_price, fee,
                              shortfall))  # fmt: skip


def on_order_done(eng: ClearingEngine, order: Order, remaining: int, ts: int,
                  out: list) -> None:
    """A liquidation order ended: deleverage what the book did not take, then go on."""
    if eng.options is not None and order.order_id in eng.options.ladder_orders:
        from clearing.options import liquidation as options_ladder

        return options_ladder.on_order_done(eng, order, remaining, ts, out)
    st = eng.liquidations.get(order.account)
    if st is None or st.order_id != order.order_id:
        return
    st.order_id = None
    acct = eng.accounts[order.account]
    inst = eng.instruments[order.symbol]
    r = inst.ledger.row_of[acct.slot]
    size = inst.ledger.size[r]
    left = min(remaining, abs(size))
    if left and not eng.halted(inst) and eng.table.eq[acct.slot] < eng.table.mm[acct.slot]:
        adl(eng, acct, inst, r, left, ts, out)
    advance(eng, st, ts, out)


def adl(eng: ClearingEngine, acct: Account, inst: InstrumentState, r: int, qty: int, ts: int,
        out: list) -> None:
    """Close ``qty`` of the account's position against ranked opposing positions at p_b."""
    from clearing.settlement import clip_reduce_only, trade

    L = inst.ledger
    size = L.size[r]
    p_b = _bankruptcy(eng, acct, inst, r, qty)
    if p_b <= 0:
        p_b = inst.spec.tick_size
    mark = inst.mark or p_b
    m = inst.mult
    A = eng.table
    ranked = []
    for row in range(L.n):
        s2 = L.size[row]
        if s2 == 0 or (s2 > 0) == (size > 0) or row == r:
            continue
        slot = L.slot[row]
        e = A.eq[slot]
        upnl = s2 * mark * m - L.cost[row]
        notional = abs(s2) * mark * m
        key = (upnl * notional * PPM) // (e * e) if e > 0 else None
        ranked.append((0 if key is not None else 1, -(key or 0), eng.by_slot[slot].id, slot))
    ranked.sort()
    left = qty
    d = -1 if size > 0 else 1
    for _, _, cp_id, _ in ranked:
        if left == 0:
            break
        cp = eng.accounts[cp_id]
        cr = L.row_of[cp.slot]
        take = min(left, abs(L.size[cr]))
        trade(eng, inst, acct, d * take, p_b, 0)
        trade(eng, inst, cp, -d * take, p_b, 0)
        out.append(AutoDeleveraged(ts, inst.symbol, acct.id, cp_id, take, p_b))
        eng.counters["adl"] += 1
        left -= take
        clip_reduce_only(eng, cp, inst, ts, out)


def finish(eng: ClearingEngine, st: LiqState, ts: int, out: list, outcome: str) -> None:
    acct = eng.accounts[st.account]
    A, slot = eng.table, acct.slot
    if outcome == "closed" and A.eq[slot] < 0:
        deficit = -A.eq[slot]
        fund = eng.insurance_fund[eng.settle]
        pay = min(deficit, fund)
        if pay:
            eng.insurance_fund[eng.settle] = fund - pay
            eng.add_cash(acct, pay)
            out.append(InsuranceFundPaid(ts, acct.id, pay, fund - pay))
        if deficit > pay:
            out.append(BadDebt(ts, acct.id, deficit - pay))
    del eng.liquidations[acct.id]
    if eng.options is not None:
        eng.options.liq_hedged.pop(acct.id, None)
    out.append(LiquidationEnded(ts, acct.id, A.eq[slot], A.mm[slot], outcome))
